"""Generate gen/ from protos/, check it is fresh, and lint the contracts, offline.

    python tools/gen_protos.py            regenerate gen/ (writes, updates and deletes files)
    python tools/gen_protos.py --check    regenerate into a temp dir; exit 1 listing every file of
                                          gen/ that is stale, missing or extra
    python tools/gen_protos.py --lint     buf lint (buf.yaml: STANDARD + COMMENTS), buf format
                                          check, and a check of the HTTP bindings; exit 1 on any
                                          finding
    python tools/gen_protos.py --breaking REF
                                          buf breaking (FILE) of protos/ against the descriptor
                                          committed in gen/ at git revision REF

Why not plain `buf generate` / `buf lint`: protos/ imports buf/validate/validate.proto and
google/api/annotations.proto, and buf cannot fetch those modules without the Buf Schema
Registry. Everything is taken from the installed wheels instead:

  * google/protobuf/*.proto       grpcio-tools' bundled include dir
  * google/api/*.proto            googleapis-common-protos (ships the .proto files)
  * buf/validate/validate.proto   protovalidate ships no .proto, only its serialized
                                  FileDescriptorProto; it is handed to protoc with
                                  --descriptor_set_in

From these, grpcio-tools' protoc builds one image of protos/ (a FileDescriptorSet with imports
and source info). That image is gen/tweetmesh_descriptor.binpb (Envoy's grpc_json_transcoder
loads it), the input of `buf generate` with buf.gen.yaml, of tools/gen_openapi.py (the REST API's
OpenAPI document, gen/openapi/tweetmesh.json, which also reads envoy/envoy.yaml), and of `buf lint`.

Output is a pure function of protos/ and the pinned tool versions: inputs are sorted and no
timestamp or absolute path is written, so --check compares bytes.

The hidden mode --protoc-gen-grpc-python makes this file a protoc plugin (buf.gen.yaml runs it):
grpcio-tools has the gRPC generator only inside its protoc, not as a protoc-gen-* binary.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "protos"
GEN_DIR = REPO_ROOT / "gen"
BUF_YAML = REPO_ROOT / "buf.yaml"
BUF_GEN_YAML = REPO_ROOT / "buf.gen.yaml"
DESCRIPTOR_NAME = "tweetmesh_descriptor.binpb"

# Files of the image buf.gen.yaml generates code for: ours, protovalidate's, whose Python
# module (buf.validate.validate_pb2) our generated code imports, and the wire-compatible subset of
# Envoy's rate limit service API that svc_ratelimit serves (protos/third_party/, Envoy's package
# names under a third_party/ path). google/api and google/protobuf modules come from the
# googleapis-common-protos and protobuf wheels.
GENERATE_PATHS = ("tweetmesh", "buf/validate", "third_party")
# Files of the image that are ours (lint, breaking); third_party/ keeps its upstream style.
OWN_PATH = "tweetmesh"

# Left alone in gen/: Python's caches are not generated files.
IGNORED_DIR_NAMES = {"__pycache__"}
IGNORED_SUFFIXES = {".pyc"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if gen/ is not what protos/ generates")
    mode.add_argument("--lint", action="store_true", help="buf lint + buf format check + HTTP binding check")
    mode.add_argument("--breaking", metavar="REF", help="buf breaking against gen/ at git revision REF")
    mode.add_argument("--protoc-gen-grpc-python", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.protoc_gen_grpc_python:
        return protoc_gen_grpc_python()
    with tempfile.TemporaryDirectory(prefix="gen_protos.") as tmp:
        work = Path(tmp)
        if args.lint:
            return lint(work)
        if args.breaking:
            return breaking(work, args.breaking)
        out = work / "gen"
        generate(work, out)
        if args.check:
            return check(out, GEN_DIR)
        sync(out, GEN_DIR)
        return 0


# --- generation -----------------------------------------------------------------------------


# Not imported by our protos but needed in Envoy's descriptor: the transcoder prints the details of
# an error status (google.rpc.ErrorInfo, BadRequest) as JSON only when it knows their types.
ERROR_DETAIL_PROTOS = ("google/rpc/error_details.proto", "google/rpc/status.proto")


def proto_files() -> list[str]:
    """Our .proto files, relative to protos/, sorted (protoc output follows input order)."""
    return sorted(p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.rglob("*.proto"))


def build_image(work: Path) -> Path:
    """Compile protos/ into an image (FileDescriptorSet with imports and source info)."""
    from grpc_tools import protoc

    validate_set = work / "buf_validate.binpb"
    validate_set.write_bytes(protovalidate_descriptor_set())
    image = work / DESCRIPTOR_NAME
    args = [
        "grpc_tools.protoc",
        f"--descriptor_set_in={validate_set}",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={grpc_tools_include_dir()}",
        f"--proto_path={googleapis_include_dir()}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={image}",
        *proto_files(),
        *ERROR_DETAIL_PROTOS,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed to compile protos/ (errors above)")
    return image


def protovalidate_descriptor_set() -> bytes:
    """A FileDescriptorSet holding buf/validate/validate.proto, from the protovalidate wheel.

    The wheel's generated module (protobuf-py, not google.protobuf) keeps the serialized
    FileDescriptorProto and exposes it through desc().proto. Its imports (google/protobuf/
    descriptor, duration, field_mask, timestamp) are not included: protoc takes them from
    grpcio-tools' include dir like every other import of the well-known types.
    """
    from google.protobuf import descriptor_pb2
    from protovalidate._gen.buf.validate import validate_pb

    file_proto = descriptor_pb2.FileDescriptorProto.FromString(validate_pb.desc().proto.to_binary())
    if file_proto.name != "buf/validate/validate.proto":
        raise SystemExit(f"protovalidate wheel: unexpected descriptor {file_proto.name!r}")
    return descriptor_pb2.FileDescriptorSet(file=[file_proto]).SerializeToString(deterministic=True)


def grpc_tools_include_dir() -> Path:
    import grpc_tools

    return Path(grpc_tools.__file__).resolve().parent / "_proto"


def googleapis_include_dir() -> Path:
    """The site-packages dir holding google/api/annotations.proto (googleapis-common-protos)."""
    from google.api import annotations_pb2

    root = Path(annotations_pb2.__file__).resolve().parent.parent.parent
    if not (root / "google" / "api" / "annotations.proto").is_file():
        raise SystemExit(f"googleapis-common-protos: no google/api/annotations.proto under {root}")
    return root


def generate(work: Path, out: Path) -> None:
    """Write into `out` exactly the tree gen/ must hold."""
    image = build_image(work)
    # buf.gen.yaml writes to `gen`, relative to --output: point --output at a scratch dir and
    # move the gen/ it gets to `out`.
    root = work / "root"
    run_buf(
        "generate",
        str(image),
        "--template",
        str(BUF_GEN_YAML),
        "--output",
        str(root),
        *(arg for path in GENERATE_PATHS for arg in ("--path", path)),
    )
    (root / "gen").rename(out)
    shutil.copyfile(image, out / DESCRIPTOR_NAME)
    # The REST API's OpenAPI document, from the same image (and envoy/envoy.yaml): tools/gen_openapi.py
    import gen_openapi

    document = out / gen_openapi.OUTPUT_RELATIVE
    document.parent.mkdir(parents=True, exist_ok=True)
    document.write_bytes(gen_openapi.generate(image.read_bytes()))


def protoc_gen_grpc_python() -> int:
    """Act as protoc-gen-grpc_python: CodeGeneratorRequest on stdin, response on stdout.

    Runs grpcio-tools' protoc on the request's descriptors. Only files that declare a service
    get a *_pb2_grpc.py: for the others the gRPC generator writes an empty module.
    """
    from google.protobuf import descriptor_pb2
    from google.protobuf.compiler import plugin_pb2
    from grpc_tools import protoc

    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    services = {f.name for f in request.proto_file if f.service}
    targets = [name for name in request.file_to_generate if name in services]
    if targets:
        with tempfile.TemporaryDirectory(prefix="protoc_gen_grpc_python.") as tmp:
            descriptors = Path(tmp, "request.binpb")
            descriptors.write_bytes(
                descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString(deterministic=True)
            )
            out = Path(tmp, "out")
            out.mkdir()
            args = ["grpc_tools.protoc", f"--descriptor_set_in={descriptors}", f"--grpc_python_out={out}", *targets]
            if protoc.main(args) != 0:
                response.error = f"grpc_tools.protoc failed on {', '.join(targets)} (see stderr)"
            else:
                for path in sorted(files_under(out)):
                    response.file.add(name=path, content=(out / path).read_text(encoding="utf-8"))
    sys.stdout.buffer.write(response.SerializeToString(deterministic=True))
    return 0


# --- gen/ against a fresh generation --------------------------------------------------------


def files_under(root: Path) -> Iterator[str]:
    """Relative posix paths of the files under root, skipping Python caches."""
    for path in root.rglob("*"):
        if path.is_dir() or path.suffix in IGNORED_SUFFIXES:
            continue
        if IGNORED_DIR_NAMES.intersection(path.relative_to(root).parts):
            continue
        yield path.relative_to(root).as_posix()


def compare(fresh: Path, current: Path) -> dict[str, list[str]]:
    want = set(files_under(fresh))
    have = set(files_under(current)) if current.is_dir() else set()
    return {
        "missing": sorted(want - have),
        "extra": sorted(have - want),
        "stale": sorted(p for p in want & have if (fresh / p).read_bytes() != (current / p).read_bytes()),
    }


def check(fresh: Path, current: Path) -> int:
    problems = compare(fresh, current)
    for kind, paths in problems.items():
        for path in paths:
            print(f"{kind}: {current.relative_to(REPO_ROOT) / path}")
    if any(problems.values()):
        print("gen/ is out of date: run `python tools/gen_protos.py`", file=sys.stderr)
        return 1
    print(f"gen/ is up to date ({sum(1 for _ in files_under(fresh))} files)")
    return 0


def sync(fresh: Path, current: Path) -> None:
    """Make `current` hold exactly the files of `fresh`, touching only what differs."""
    problems = compare(fresh, current)
    for path in problems["missing"] + problems["stale"]:
        target = current / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fresh / path, target)
    for path in problems["extra"]:
        (current / path).unlink()
    # Remove directories left without generated files (and their caches).
    for directory in sorted((d for d in current.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
        if directory.name not in IGNORED_DIR_NAMES and not any(files_under(directory)):
            shutil.rmtree(directory)
    changed = sum(len(paths) for paths in problems.values())
    total = sum(1 for _ in files_under(fresh))
    print(f"gen/: {total} files, {changed} written or removed")


# --- lint -----------------------------------------------------------------------------------


def lint(work: Path) -> int:
    image = build_image(work)
    failed = False

    print("buf lint (buf.yaml: STANDARD + COMMENTS)")
    result = run_buf("lint", str(image), "--config", str(BUF_YAML), "--path", OWN_PATH, check=False)
    failed |= result.returncode != 0
    print(in_protos(result.stdout + result.stderr), end="")

    print("buf format --diff --exit-code protos")
    result = run_buf("format", "--diff", "--exit-code", str(PROTO_ROOT.relative_to(REPO_ROOT)), check=False)
    failed |= result.returncode != 0
    print(result.stdout + result.stderr, end="")

    print("HTTP bindings: one per RPC at least, no (method, path) used twice")
    findings = http_binding_findings(image)
    failed |= bool(findings)
    for finding in findings:
        print(finding)

    print("lint: FAILED" if failed else "lint: clean")
    return 1 if failed else 0


def in_protos(buf_output: str) -> str:
    """Prefix the image-relative paths buf prints with protos/ so editors can open them."""
    prefix = PROTO_ROOT.relative_to(REPO_ROOT).as_posix()
    lines = buf_output.splitlines(keepends=True)
    return "".join(f"{prefix}/{line}" if line.startswith(f"{OWN_PATH}/") else line for line in lines)


def http_binding_findings(image: Path) -> list[str]:
    """RPCs without a google.api.http binding, and bindings that collide.

    Envoy's transcoder matches a REST request against the bindings of every service in the
    descriptor at once, so a (method, path template) pair must be unique across the mesh;
    variable names do not matter to the matcher and are ignored.
    """
    import re

    from google.api import annotations_pb2
    from google.protobuf import descriptor_pb2

    image_set = descriptor_pb2.FileDescriptorSet.FromString(image.read_bytes())
    findings: list[str] = []
    bindings: dict[tuple[str, str], list[str]] = defaultdict(list)
    for file in image_set.file:
        if not file.name.startswith(f"{OWN_PATH}/"):
            continue
        for service in file.service:
            for method in service.method:
                rpc = f"{file.package}.{service.name}.{method.name}"
                if not method.options.HasExtension(annotations_pb2.http):
                    findings.append(f"{rpc}: no google.api.http option")
                    continue
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in (rule, *rule.additional_bindings):
                    verb = binding.WhichOneof("pattern")
                    path = getattr(binding, verb) if verb != "custom" else binding.custom.path
                    verb = binding.custom.kind if verb == "custom" else verb
                    bindings[(verb.upper(), re.sub(r"\{[^}]*\}", "{}", path))].append(f"{rpc} ({path})")
    for (verb, _), rpcs in sorted(bindings.items()):
        if len(rpcs) > 1:
            findings.append(f"{verb} binding used by several RPCs: {'; '.join(rpcs)}")
    return findings


# --- breaking -------------------------------------------------------------------------------


def breaking(work: Path, ref: str) -> int:
    """buf breaking (buf.yaml: FILE) of protos/ against the descriptor committed at `ref`."""
    image = build_image(work)
    against = work / "against.binpb"
    committed = GEN_DIR.relative_to(REPO_ROOT).as_posix() + "/" + DESCRIPTOR_NAME
    shown = subprocess.run(
        ["git", "show", f"{ref}:{committed}"], cwd=REPO_ROOT, capture_output=True, check=False
    )
    if shown.returncode != 0:
        print(f"no {committed} at {ref}: {shown.stderr.decode(errors='replace').strip()}", file=sys.stderr)
        return 2
    against.write_bytes(shown.stdout)
    result = run_buf(
        "breaking",
        str(image),
        "--against",
        str(against),
        "--config",
        str(BUF_YAML),
        "--path",
        OWN_PATH,
        check=False,
    )
    print(in_protos(result.stdout + result.stderr), end="")
    print(f"breaking against {ref}: {'FAILED' if result.returncode else 'none'}")
    return 1 if result.returncode else 0


# --- buf ------------------------------------------------------------------------------------


def run_buf(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the buf of this venv (buf-bin) from the repo root, with this venv first on PATH.

    buf.gen.yaml names `python` for protoc and for the gRPC plugin; putting the running
    interpreter's scripts dir first on PATH makes that the venv's python, whatever the caller's
    PATH is.
    """
    scripts = Path(sysconfig.get_path("scripts"))
    interpreter_dir = Path(sys.executable).parent
    path = os.pathsep.join([str(interpreter_dir), str(scripts), os.environ.get("PATH", "")])
    buf = shutil.which("buf", path=path)
    if buf is None:
        raise SystemExit("buf not found: install the dev extras (buf-bin)")
    env = {**os.environ, "PATH": path}
    result = subprocess.run([buf, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"buf {args[0]} failed:\n{result.stdout}{result.stderr}")
    return result


if __name__ == "__main__":
    sys.exit(main())
