"""Generates the protobuf modules from Proto/ into haven_client/_proto before
the package is built, so `pip install ./Clients/python` works from a clean
checkout with nothing but PyPI (grpcio-tools bundles protoc).

The generated modules import each other by proto path (`from haven.v1 import
...`); those imports are rewritten to live under `haven_client._proto`, so the
package never puts top-level `haven`, `ttrpc` or `google.rpc` modules on a
user's path."""
import glob
import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "haven_client", "_proto")
# Top-level proto packages that are ours to ship (google.protobuf comes from the protobuf runtime).
OWN_IMPORTS = re.compile(r"^from (haven|ttrpc|google\.rpc)((?:\.\w+)*) import ", re.MULTILINE)


def find_proto_root():
    candidate = os.path.abspath(os.path.join(HERE, "..", "..", "Proto"))
    return candidate if os.path.isdir(candidate) else None


def generate():
    root = find_proto_root()
    if root is None:
        if os.path.isdir(OUT):
            return  # a source distribution that already carries them
        raise SystemExit("haven-client: Proto/ not found; build from the Haven repository checkout")
    import grpc_tools
    from grpc_tools import protoc

    os.makedirs(OUT, exist_ok=True)
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "**", "*.proto"), recursive=True))
    code = protoc.main(["grpc_tools.protoc", "-I" + root, "-I" + include,
                        "--python_out=" + OUT, "--pyi_out=" + OUT] + files)
    if code != 0:
        raise SystemExit("haven-client: protoc failed with status %d on %s" % (code, root))
    for path in glob.glob(os.path.join(OUT, "**", "*.py*"), recursive=True):
        with open(path) as f:
            text = f.read()
        rewritten = OWN_IMPORTS.sub(r"from haven_client._proto.\1\2 import ", text)
        if rewritten != text:
            with open(path, "w") as f:
                f.write(rewritten)
    for directory, _subdirs, _files in os.walk(OUT):
        init = os.path.join(directory, "__init__.py")
        if not os.path.exists(init):
            open(init, "w").close()


def generated_packages():
    for directory, _subdirs, _files in os.walk(OUT):
        if "__pycache__" not in directory:
            yield os.path.relpath(directory, HERE).replace(os.sep, ".")


def runtime_requirement():
    """The protobuf runtime the generated code needs: the same major version as
    the protoc that generated it, and no older (protobuf checks this at import)."""
    with open(os.path.join(OUT, "haven", "v1", "daemon_pb2.py")) as f:
        match = re.search(r"^# Protobuf Python Version: (\d+)\.(\d+)\.(\d+)", f.read(), re.MULTILINE)
    if match is None:
        return "protobuf>=4.21"
    major, minor, patch = (int(x) for x in match.groups())
    return "protobuf>=%d.%d.%d,<%d" % (major, minor, patch, major + 1)


generate()
setup(
    packages=["haven_client"] + sorted(generated_packages()),
    install_requires=[runtime_requirement()],
)
