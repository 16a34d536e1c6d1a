"""A PEP 517 backend for the `crucible` package with the standard library only.

The package is pure Python with no dependencies, so a wheel is a zip of crucible/ plus the three
dist-info files; this keeps `pip install ./clients/python` working offline.
"""
import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME, VERSION = "crucible", "0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
METADATA = f"""Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: Python SDK for the Crucible local inference agent (standard library only)
Requires-Python: >=3.9
License: MIT
Provides-Extra: fast
Requires-Dist: msgpack>=1.0; extra == "fast"
Provides-Extra: openai
Requires-Dist: openai>=1.0; extra == "openai"
"""
WHEEL = "Wheel-Version: 1.0\nGenerator: crucible-build-backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _sources():
    pkg = os.path.join(HERE, NAME)
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py"):
            yield f"{NAME}/{name}", os.path.join(pkg, name)


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    target = os.path.join(metadata_directory, DIST_INFO)
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "METADATA"), "w", encoding="utf-8") as f:
        f.write(METADATA)
    with open(os.path.join(target, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(WHEEL)
    return DIST_INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    filename = f"{NAME}-{VERSION}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as whl:
        files = [(arc, open(path, "rb").read()) for arc, path in _sources()]
        files += [(f"{DIST_INFO}/METADATA", METADATA.encode()), (f"{DIST_INFO}/WHEEL", WHEEL.encode())]
        for arc, data in files:
            whl.writestr(arc, data)
            records.append(f"{arc},{_digest(data)},{len(data)}")
        records.append(f"{DIST_INFO}/RECORD,,")
        whl.writestr(f"{DIST_INFO}/RECORD", "\n".join(records) + "\n")
    return filename


def build_sdist(sdist_directory, config_settings=None):
    filename = f"{NAME}-{VERSION}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tar:
        for rel in ["pyproject.toml", "build_backend.py"] + [arc for arc, _ in _sources()]:
            tar.add(os.path.join(HERE, rel), arcname=f"{NAME}-{VERSION}/{rel}")
        info = tarfile.TarInfo(f"{NAME}-{VERSION}/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return filename
