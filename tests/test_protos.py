"""The committed generated code is exactly what `make protos` produces from protos/."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_generator():
    spec = importlib.util.spec_from_file_location("protos_script", ROOT / "scripts" / "protos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools comes with the dev extra")
    generator = _load_generator()
    fresh = generator.generate(tmp_path)
    committed = generator.generated_files(generator.PROTO_ROOT)
    assert fresh == committed, "generated file set differs: run `make protos` and commit"
    drifted = [
        str(rel) for rel in fresh
        if (tmp_path / rel).read_bytes() != (generator.PROTO_ROOT / rel).read_bytes()
    ]
    assert not drifted, f"stale generated code (run `make protos` and commit): {drifted}"
    # one proto per service plus shared messages
    names = {p.name for p in generator.proto_files()}
    assert names == {"common.proto", "clinical.proto", "segmenter.proto", "classifier.proto",
                     "survival.proto", "gateway.proto", "studies.proto"}


def test_every_enum_starts_with_unspecified_zero() -> None:
    from cervix.v1 import (
        classifier_pb2,
        clinical_pb2,
        common_pb2,
        gateway_pb2,
        segmenter_pb2,
        studies_pb2,
        survival_pb2,
    )

    files = [m.DESCRIPTOR for m in (classifier_pb2, clinical_pb2, common_pb2, gateway_pb2,
                                    segmenter_pb2, studies_pb2, survival_pb2)]
    enums = [e for f in files for e in f.enum_types_by_name.values()]
    assert len(enums) >= 15
    for enum in enums:
        zero = enum.values_by_number[0]
        assert zero.name.endswith("_UNSPECIFIED"), f"{enum.name} zero value is {zero.name}"


def test_services_exist_with_expected_methods() -> None:
    from cervix.v1 import classifier_pb2, gateway_pb2, segmenter_pb2, studies_pb2, survival_pb2

    methods = {
        s.full_name: {m.name: (m.client_streaming, m.server_streaming) for m in s.methods}
        for mod in (segmenter_pb2, classifier_pb2, survival_pb2, gateway_pb2, studies_pb2)
        for s in mod.DESCRIPTOR.services_by_name.values()
    }
    assert methods == {
        "cervix.v1.Segmenter": {"Segment": (False, False)},
        "cervix.v1.Classifier": {"Predict": (False, False)},
        "cervix.v1.Survival": {"Predict": (False, False)},
        "cervix.v1.Gateway": {"Assess": (False, False), "AssessStream": (True, False)},
        "cervix.v1.Studies": {"PutClinical": (False, False), "GetStudy": (False, False),
                              "StoreInstance": (False, False)},
    }


def test_generated_package_has_stubs() -> None:
    stubs = sorted(p.name for p in (ROOT / "protos" / "cervix" / "v1").glob("*_pb2.pyi"))
    assert len(stubs) == 7
