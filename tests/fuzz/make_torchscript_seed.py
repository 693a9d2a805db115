#!/usr/bin/env python3
"""Writes a TorchScript-layout archive (module objects of __torch__ classes holding tensors, as
torch.jit.save lays them out) from a torch.save state dict, with the standard library only:
the fuzz seed tests/fuzz/corpus/clip_state_dict/vit_tiny_torchscript.pt.

    python3 tests/fuzz/make_torchscript_seed.py STATE_DICT.pt OUT.pt
"""
import pickle, sys, types, zipfile, collections

src, dst = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(src)
prefix = [n for n in z.namelist() if n.endswith('data.pkl')][0][:-8]

class StorageRef:
    def __init__(self, pid): self.pid = pid
class TensorRef:
    def __init__(self, storage, offset, size, stride): self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

class Reader(pickle.Unpickler):
    def find_class(self, module, name):
        if name == '_rebuild_tensor_v2':
            return lambda storage, offset, size, stride, *rest: TensorRef(storage, offset, size, stride)
        if name == 'OrderedDict': return collections.OrderedDict
        if name == 'restore_type_tag': return lambda obj, tag: obj
        return type(name, (), {'module': module})
    def persistent_load(self, pid): return StorageRef(pid)

state = Reader(z.open(prefix + 'data.pkl')).load()

# Fake TorchScript modules: classes living in modules named __torch__....
def make_class(module, name):
    parts = module.split('.')
    for i in range(1, len(parts)):
        sys.modules.setdefault('.'.join(parts[:i]), types.ModuleType('.'.join(parts[:i])))
    m = sys.modules.setdefault(module, types.ModuleType(module))
    cls = type(name, (), {'__module__': module})
    cls.__qualname__ = name
    setattr(m, name, cls)
    return cls
storage_classes = {}
for k, t in state.items():
    st = t.storage.pid[1]
    storage_classes.setdefault(st.__name__, None)
torch_mod = sys.modules.setdefault('torch', types.ModuleType('torch'))
for n in storage_classes:
    c = type(n, (), {'__module__': 'torch'}); c.__qualname__ = n; setattr(torch_mod, n, c); storage_classes[n] = c
utils = sys.modules.setdefault('torch._utils', types.ModuleType('torch._utils'))
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = 'torch._utils'; utils._rebuild_tensor_v2 = _rebuild_tensor_v2

Module = make_class('__torch__.clip.model', 'CLIP')
Sub = make_class('__torch__.torch.nn.modules.module', 'Module')
class T:
    def __init__(self, ref): self.ref = ref
    def __reduce__(self):
        r = self.ref
        return (_rebuild_tensor_v2, (r.storage, r.offset, r.size, r.stride, False, collections.OrderedDict()))
root = Module(); root.__dict__['training'] = False
for key, ref in state.items():
    parts = key.split('.')
    node = root
    for p in parts[:-1]:
        if p not in node.__dict__:
            child = Sub(); child.__dict__['training'] = False; node.__dict__[p] = child
        node = node.__dict__[p]
    node.__dict__[parts[-1]] = T(ref)

class Writer(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            pid = list(obj.pid); pid[1] = storage_classes[pid[1].__name__]; return tuple(pid)
        return None
import io
buf = io.BytesIO(); Writer(buf, protocol=2).dump(root)
with zipfile.ZipFile(dst, 'w') as out:
    out.writestr('tiny/data.pkl', buf.getvalue())
    out.writestr('tiny/constants.pkl', pickle.dumps((), protocol=2))
    out.writestr('tiny/version', '3\n')
    for n in z.namelist():
        if n.startswith(prefix + 'data/'):
            out.writestr('tiny/data/' + n[len(prefix) + 5:], z.read(n))
print('wrote', dst, len(state), 'tensors')
