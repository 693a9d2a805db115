// Reading files written by Python's torch.save, with no Python.
//
// Two layouts exist (torch/serialization.py):
//  * zip archive (torch >= 1.6, the default): records <folder>/data.pkl (the pickle),
//    <folder>/data/<key> (one record per storage, raw little-endian bytes),
//    <folder>/version, and in torch 2.x <folder>/byteorder. <folder> is whatever the file
//    was called when it was saved (or "archive" for a buffer); it is read from the archive.
//  * legacy (torch < 1.6, or _use_new_zipfile_serialization=False): five pickles back to
//    back - magic number 0x1950a86a20f9469cfc6c, protocol version 1001, sys info
//    (endianness, type sizes), the object (storages as persistent ids
//    ('storage', type, key, location, numel, view_metadata)), the list of storage keys -
//    then each storage in that key order as an int64 element count and its raw bytes.
//
// Both give the same PyValue tree (see unpickler.h for what classes become). Tensors are
// CPU tensors in the stored dtype (fp16 stays fp16), whatever device they were saved from.
//
// Not readable by load_torch_file, each with an InputError that says what to do instead:
//  * NVlabs network pickles (.pkl from stylegan2-ada-pytorch / stylegan3): plain pickles of
//    NVlabs' classes; convert them with tools/convert_nvlabs_pkl.py.
//  * TorchScript archives (torch.jit.save): load_torchscript_tensors reads their tensors.
//  * the tar layout of torch < 0.4.
#pragma once

#include <map>
#include <string>

#include "io/py_value.h"

namespace styleseg::io {

// Loads a torch.save file. Throws InputError (message starting with the path) for a
// missing, empty, truncated or corrupt file, or a file that is not a torch.save file.
PyValue load_torch_file(const std::string& path);

// The tensors of a TorchScript archive (torch.jit.save: OpenAI's released CLIP models) by
// attribute path ("visual.conv1.weight"), as Module::named_parameters and named_buffers name
// them, read as data by the same zip reader and unpickler: the archive's code is never
// compiled or run (torch::jit::load would). Throws InputError (message starting with the path)
// for a file that is not a TorchScript archive or is corrupt.
std::map<std::string, at::Tensor> load_torchscript_tensors(const std::string& path);

// Indented multi-line text of a value: dict keys with tensor dtypes and shapes, object
// class names, scalars; containers deeper than max_depth are summarised on one line.
// For `styleseg inspect`-style debugging.
std::string describe_tree(const PyValue& value, int max_depth = 3);

}  // namespace styleseg::io
