#!/usr/bin/env python3
"""Writes the zip archives of tests/unit/test_zip_archive.cpp (standard library only).

stored.zip, deflated.zip: Python's zipfile, two records under archive/.
zip64.zip: written by hand as PyTorch writes files over 4 GiB: every entry's sizes and
offset as 0xffffffff with the values in a zip64 extra field, and a zip64 end of central
directory with its locator.
bad_crc.zip: stored.zip with one data byte changed.
train_ckpt_deflated.pt: tests/data/torch_files/train_ckpt.pt with its records deflated.
"""
import os
import struct
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "zip")
RECORDS = [("archive/a.txt", b"hello"), ("archive/b.bin", bytes((i * 7) % 256 for i in range(1000)))]


def write_zipfile(path, compression):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in RECORDS:
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compress_type=compression)


def write_zip64(path):
    out = bytearray()
    central = bytearray()
    for name, data in RECORDS:
        offset = len(out)
        crc = zlib.crc32(data)
        name_b = name.encode()
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(name_b), len(local_extra)) + name_b + local_extra + data
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF,
                               0xFFFFFFFF, len(name_b), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + name_b + extra
    cd_offset = len(out)
    out += central
    zip64_end = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(RECORDS), len(RECORDS),
                       len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path, "wb") as f:
        f.write(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    write_zipfile(os.path.join(OUT, "stored.zip"), zipfile.ZIP_STORED)
    write_zipfile(os.path.join(OUT, "deflated.zip"), zipfile.ZIP_DEFLATED)
    write_zip64(os.path.join(OUT, "zip64.zip"))
    data = bytearray(open(os.path.join(OUT, "stored.zip"), "rb").read())
    data[data.index(b"hello")] ^= 0x20  # "Hello": the CRC no longer matches
    open(os.path.join(OUT, "bad_crc.zip"), "wb").write(bytes(data))
    source = os.path.join(HERE, "torch_files", "train_ckpt.pt")
    with zipfile.ZipFile(source) as z, zipfile.ZipFile(os.path.join(HERE, "torch_files", "train_ckpt_deflated.pt"), "w",
                                                        zipfile.ZIP_DEFLATED) as out:
        for info in z.infolist():
            out.writestr(zipfile.ZipInfo(info.filename, (2020, 1, 1, 0, 0, 0)), z.read(info.filename),
                         compress_type=zipfile.ZIP_DEFLATED)


if __name__ == "__main__":
    main()
