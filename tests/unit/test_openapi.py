"""The OpenAPI document is generated from the protos and the gateway config, and is valid OpenAPI 3."""

import json
import sys

import pytest
import yaml
from google.api import annotations_pb2
from openapi_spec_validator import validate

from mesh.config import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import gen_openapi  # noqa: E402

DESCRIPTOR = REPO_ROOT / "gen" / "tweetmesh_descriptor.binpb"
COMMITTED = REPO_ROOT / "gen" / gen_openapi.OUTPUT_RELATIVE


@pytest.fixture(scope="module")
def doc() -> dict:
    return gen_openapi.document(DESCRIPTOR.read_bytes(), yaml.safe_load(gen_openapi.ENVOY_YAML.read_text()))


def _operations(doc):
    return {op["operationId"]: (path, verb, op) for path, item in doc["paths"].items() for verb, op in item.items()}


def test_the_document_is_valid_openapi_3(doc):
    validate(doc)


def test_the_committed_document_is_what_the_generator_writes(doc):
    # `make check-gen` checks it against a fresh compile of protos/ too; this is the quick local signal
    assert COMMITTED.read_bytes() == gen_openapi.render(doc), "run `make gen`"


def test_every_public_rpc_with_an_http_rule_appears_and_internal_ones_do_not(doc):
    image = gen_openapi.load_image(DESCRIPTOR.read_bytes())
    gateway = gen_openapi.Gateway(yaml.safe_load(gen_openapi.ENVOY_YAML.read_text()))
    operations = _operations(doc)
    expected, refused = set(), set()
    for file in image.file:
        for service in file.service:
            full = f"{file.package}.{service.name}"
            if full not in gateway.services:
                continue
            for method in service.method:
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                (refused if gateway.refuses(f"/{full}/{method.name}") else expected).add(f"{service.name}_{method.name}")
    assert expected and expected <= set(operations)
    assert refused == {"GraphService_ListFollowerIds", "GraphService_ListFollowingIds", "GraphService_BatchGetRelationships"}
    assert not refused & set(operations)
    assert not [path for path in doc["paths"] if path.startswith("/internal/")]


def test_parameters_bodies_and_types_follow_the_transcoder(doc):
    ops = _operations(doc)
    path, verb, followers = ops["GraphService_ListFollowers"]
    assert (path, verb) == ("/v1/users/{user_id}/followers", "get")
    params = {p["name"]: p for p in followers["parameters"]}
    assert params["user_id"]["in"] == "path" and params["user_id"]["schema"]["pattern"] == "^[1-9][0-9]{0,18}$"
    assert params["pageSize"]["in"] == "query" and params["pageSize"]["schema"]["maximum"] == 100
    assert "pageToken" in params  # camelCase, as Envoy's transcoder reads query parameters
    _, _, sign_up = ops["GraphService_CreateUser"]
    body = sign_up["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert body["password"]["minLength"] == 8 and body["password"]["maxLength"] == 128
    assert "displayName" in body and body["handle"]["description"].startswith("The handle")
    schemas = doc["components"]["schemas"]
    user = schemas["tweetmesh.graph.v1.User"]["properties"]
    assert user["userId"]["type"] == "string"  # ids are strings
    media = ops["TweetService_CreateMediaUpload"][2]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert media["sizeBytes"] == {"type": "string", "format": "int64", "description": media["sizeBytes"]["description"]}
    assert "image/png" in media["contentType"]["enum"]
    timestamps = [p for s in schemas.values() for p in s.get("properties", {}).values() if p.get("format") == "date-time"]
    assert timestamps
    enums = [s for s in schemas.values() if "enum" in s]
    assert enums and all(s["type"] == "string" for s in enums)


def test_security_follows_the_gateway_and_creation_answers_201(doc):
    ops = _operations(doc)
    open_ops = {op_id for op_id, (_, _, op) in ops.items() if op.get("security") == []}
    assert open_ops == {"GraphService_CreateUser", "GraphService_CreateSession", "GraphService_RefreshSession",
                        "GraphService_RevokeSession"}
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    created = [op_id for op_id, (_, _, op) in ops.items() if "201" in op["responses"]]
    assert created and all(op_id.startswith("TweetService_") for op_id in created)


def test_every_error_is_the_one_error_shape(doc):
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(error["required"]) == {"code", "status", "reason", "message", "fields", "requestId"}
    for _, _, op in _operations(doc).values():
        assert op["responses"]["default"] == {"$ref": "#/components/responses/Error"}


def test_output_is_byte_stable(doc):
    assert gen_openapi.render(doc) == gen_openapi.render(json.loads(gen_openapi.render(doc)))
