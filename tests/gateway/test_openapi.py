"""The HTTP API's OpenAPI document: the reply's schema follows the proto descriptors, every
error has the error schema, no status code is advertised that never occurs — and a client
generated from the served document (openapi-python-client) assesses a real study."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cervix.v1 import gateway_pb2
from gateway.config import GatewayConfig
from gateway.http_api import create_app
from gateway.openapi import INT64_NOTE, message_schemas
from gateway.service import Gateway


@pytest.fixture(scope="module")
def spec() -> dict[str, object]:
    gateway = Gateway(GatewayConfig.from_env({}))
    try:
        return create_app(gateway).openapi()
    finally:
        gateway.close()


def test_the_reply_schema_covers_every_field_of_the_proto(spec) -> None:
    schemas = spec["components"]["schemas"]
    response = gateway_pb2.AssessResponse.DESCRIPTOR
    assessment = schemas["Assessment"]
    assert set(assessment["properties"]) == {f.name for f in response.fields} | {"preview"}
    assert "preview" not in assessment["required"] and "series" not in assessment["required"]
    assert "request_id" in assessment["required"]  # no presence: always in the JSON
    assert assessment["properties"]["predictions"]["items"] == {
        "$ref": "#/components/schemas/TaskPrediction"}
    # every message the reply reaches is a component; int64 fields are documented strings
    for name, schema in message_schemas(response).items():
        if name != "AssessResponse":
            assert schemas[name] == schema
    assert schemas["SeriesSummary"]["properties"]["slices"] == {
        "type": "string", "pattern": "^-?[0-9]+$", "description": INT64_NOTE}
    assert schemas["Mask"]["properties"]["data"]["format"] == "byte"
    assert "STAGE_POSTOPERATIVE" in schemas["Assessment"]["properties"]["stage"]["enum"]
    assert schemas["Proportion"]["properties"]["numerator"]["type"] == "integer"


def test_errors_have_the_error_schema_and_no_code_is_advertised_that_never_occurs(spec) -> None:
    error = {"$ref": "#/components/schemas/ErrorBody"}
    operation = spec["paths"]["/v1/assessments"]["post"]
    assert set(operation["responses"]) - {"401", "403"} == {"200", "400", "413", "429", "500",
                                                            "503"}
    for code in ("400", "413", "429", "500", "503"):
        assert operation["responses"][code]["content"]["application/json"]["schema"] == error
    assert spec["paths"]["/v1/models"]["get"]["responses"]["404"]["content"][
        "application/json"]["schema"] == error
    assert spec["paths"]["/readyz"]["get"]["responses"]["503"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/Readiness"}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            assert "422" not in op["responses"], f"{method} {path}"
    assert {"HTTPValidationError", "ValidationError"}.isdisjoint(spec["components"]["schemas"])


def test_a_generated_client_assesses_a_study(served_gateway, series_files, postoperative,
                                             tmp_path) -> None:
    pytest.importorskip("openapi_python_client",
                        reason="openapi-python-client is not installed (pip install -e "
                               "'.[test]'; `make test` does)")
    _, http, _, _ = served_gateway
    (tmp_path / "openapi.json").write_text(http.get("/openapi.json").text)
    (tmp_path / "config.json").write_text(json.dumps({"post_hooks": []}))
    generated = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path",
         str(tmp_path / "openapi.json"), "--config", str(tmp_path / "config.json"), "--meta",
         "none", "--output-path", str(tmp_path / "gateway_client")],
        capture_output=True, text=True, timeout=120)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("gateway_client")
        assess = importlib.import_module("gateway_client.api.default.assess")
        models = importlib.import_module("gateway_client.models")
        types = importlib.import_module("gateway_client.types")
        client = client_module.Client(base_url=str(http.base_url), timeout=60)
        form = models.AssessmentForm(
            stage=models.AssessmentFormStage.POSTOPERATIVE, clinical=json.dumps(postoperative),
            files=[types.File(payload=io.BytesIO(data), file_name=name,
                              mime_type="application/dicom") for name, data in series_files])
        result = assess.sync(client=client, body=form, preview=True)
        assert isinstance(result, models.Assessment), result
        assert len(result.request_id) == 32
        assert result.stage is models.AssessmentStage.STAGE_POSTOPERATIVE
        assert int(result.series.slices) == len(series_files)
        assert [p.task.value for p in result.predictions] == ["TASK_RECURRENCE", "TASK_DEATH"]
        assert all(0 <= p.probability <= 1 for p in result.predictions)
        assert {e.outcome.value for e in result.survival} == {"SURVIVAL_OUTCOME_RFS",
                                                              "SURVIVAL_OUTCOME_OS"}
        assert len(result.preview.slices_png_base64) == len(series_files)
        refused = assess.sync(client=client, body=models.AssessmentForm(
            stage=models.AssessmentFormStage.PREOPERATIVE, clinical="{}", files=[]))
        assert isinstance(refused, models.ErrorBody)
        assert refused.error.code is models.ErrorCode.INVALID_ARGUMENT
        assert {v.field for v in refused.error.field_violations} >= {"clinical.age_years",
                                                                      "files"}
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "gateway_client"]:
            del sys.modules[name]


def test_the_test_extra_installs_the_generator() -> None:
    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    test_extra = text.split("\ntest = [", 1)[1].split("]", 1)[0]
    assert "openapi-python-client==" in test_extra and "jsonschema" in test_extra
