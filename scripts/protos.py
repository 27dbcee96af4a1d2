"""Generate the Python code of the wire contract from protos/ (what `make protos` runs).

Generated files live beside the .proto files in protos/cervix/v1/ (package ``cervix.v1``): *_pb2.py,
*_pb2.pyi (type stubs) and *_pb2_grpc.py. They are committed, never edited by hand, and
tests/test_protos.py fails when they differ from what this script produces.

Usage: python scripts/protos.py [--out DIR]   (default: protos/, in place)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE_DIR = Path("cervix") / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files() -> list[Path]:
    """The .proto files of the contract, relative to protos/, sorted."""
    return sorted(p.relative_to(PROTO_ROOT) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))


def generated_files(root: Path) -> list[Path]:
    """The generated files under ``root``, relative to it, sorted."""
    return sorted(
        p.relative_to(root)
        for p in (root / PACKAGE_DIR).iterdir()
        if p.name.endswith(GENERATED_SUFFIXES)
    )


def generate(out: Path) -> list[Path]:
    """Run protoc (grpcio-tools) over every contract file into ``out``; return the files."""
    from grpc_tools import protoc  # dev extra only: serving never generates code

    out.mkdir(parents=True, exist_ok=True)
    (out / PACKAGE_DIR).mkdir(parents=True, exist_ok=True)
    if out.resolve() != PROTO_ROOT.resolve():
        for rel in generated_files(out):
            (out / rel).unlink()
    else:
        for rel in generated_files(PROTO_ROOT):
            (PROTO_ROOT / rel).unlink()
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(p) for p in proto_files()],
    ]
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    return generated_files(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT)
    args = parser.parse_args(argv)
    files = generate(args.out)
    for init in (args.out / "cervix" / "__init__.py", args.out / PACKAGE_DIR / "__init__.py"):
        if not init.exists():
            shutil.copyfile(PROTO_ROOT / init.relative_to(args.out), init)
    print(f"generated {len(files)} files under {args.out / PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
