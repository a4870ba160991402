"""Generate the OpenAPI 3.0 document of the REST API from the protos: gen/openapi/tweetmesh.json.

    python tools/gen_openapi.py [--descriptor gen/tweetmesh_descriptor.binpb] [--out FILE]

`make gen` runs it through tools/gen_protos.py (on the fresh image, so `make check-gen` fails when
the committed document is stale); Envoy serves the file at GET /openapi.json. Nothing in it is
written by hand. Inputs:

  * the image of protos/ (a FileDescriptorSet with source info): services, the google.api.http
    bindings, messages, enums, comments (descriptions) and protovalidate rules (simple ones become
    minLength/maxLength/pattern/minimum/maximum/minItems/maxItems/uniqueItems/enum/required);
  * envoy/envoy.yaml, the gateway: which services it transcodes, which RPCs it refuses (internal
    ones are left out), which need no token (jwt_authn rules without `requires`), and which REST
    creations answer 201 (the Lua filter's CREATED table).

JSON follows Envoy's transcoder: proto3 JSON names (camelCase) for bodies and query parameters,
path parameters named as in the binding, int64 as strings, enums as their names, Timestamp as an
RFC 3339 string. Every error has the one REST error shape (components.schemas.Error).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DESCRIPTOR = REPO_ROOT / "gen" / "tweetmesh_descriptor.binpb"
ENVOY_YAML = REPO_ROOT / "envoy" / "envoy.yaml"
OUTPUT = REPO_ROOT / "gen" / "openapi" / "tweetmesh.json"
OUTPUT_RELATIVE = "openapi/tweetmesh.json"  # under gen/

# FieldDescriptorProto.Type -> (JSON schema type, format); 64-bit integers are strings in proto3 JSON
_SCALARS: dict[int, dict[str, str]] = {
    1: {"type": "number", "format": "double"},
    2: {"type": "number", "format": "float"},
    3: {"type": "string", "format": "int64"},
    4: {"type": "string", "format": "uint64"},
    5: {"type": "integer", "format": "int32"},
    6: {"type": "string", "format": "uint64"},
    7: {"type": "integer", "format": "int64"},  # fixed32: fits a JSON number
    8: {"type": "boolean"},
    9: {"type": "string"},
    12: {"type": "string", "format": "byte"},
    13: {"type": "integer", "format": "int64"},  # uint32
    15: {"type": "integer", "format": "int32"},
    16: {"type": "string", "format": "int64"},
    17: {"type": "integer", "format": "int32"},
    18: {"type": "string", "format": "int64"},
}
_TYPE_MESSAGE, _TYPE_ENUM = 11, 14
_LABEL_REPEATED = 3

# Well-known types as proto3 JSON writes them.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "description": "seconds with an `s` suffix, e.g. `1.5s`"},
    "google.protobuf.FieldMask": {"type": "string", "description": "comma-separated camelCase field paths"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    "google.protobuf.Int64Value": {"type": "string", "format": "int64"},
    "google.protobuf.UInt64Value": {"type": "string", "format": "uint64"},
    "google.protobuf.DoubleValue": {"type": "number"},
}

# protovalidate patterns a JSON Schema (ECMA 262) engine cannot read are left to the description.
_UNPORTABLE_PATTERN = re.compile(r"\\p\{")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every REST error, made by the gateway or by a service, has this shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "status", "reason", "message", "fields", "requestId"],
            "properties": {
                "code": {"type": "integer", "description": "The HTTP status code (from the gRPC status)."},
                "status": {
                    "type": "string",
                    "description": "The gRPC status name, e.g. INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED.",
                },
                "reason": {
                    "type": "string",
                    "description": "Stable UPPER_SNAKE_CASE reason to branch on, e.g. VALIDATION_FAILED, "
                    "USER_NOT_FOUND, AUTHENTICATION_REQUIRED, RATE_LIMITED, NO_SUCH_PATH.",
                },
                "message": {"type": "string", "description": "For people; may change."},
                "fields": {
                    "type": "array",
                    "description": "The violated request fields (empty when the error is not about one field).",
                    "items": {
                        "type": "object",
                        "required": ["field", "description"],
                        "properties": {
                            "field": {"type": "string", "description": "JSON path of the field, e.g. `displayName`, `images[0]`."},
                            "description": {"type": "string", "description": "What is wrong, for people."},
                        },
                    },
                },
                "metadata": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Specifics of the reason, e.g. {\"user_id\": \"42\"}.",
                },
                "requestId": {"type": "string", "description": "The x-request-id of the call: quote it when reporting."},
            },
        }
    },
}


# --- inputs ---------------------------------------------------------------------------------


class Gateway:
    """What envoy/envoy.yaml says about the REST surface."""

    def __init__(self, config: dict[str, Any]):
        (listener,) = config["static_resources"]["listeners"]
        (chain,) = listener["filter_chains"]
        (manager,) = chain["filters"]
        typed = manager["typed_config"]
        filters = {f["name"]: f["typed_config"] for f in typed["http_filters"]}
        self.services: list[str] = list(filters["envoy.filters.http.grpc_json_transcoder"]["services"])
        self.denied = [
            re.compile(route["match"]["safe_regex"]["regex"])
            for host in typed["route_config"]["virtual_hosts"]
            for route in host["routes"]
            if "direct_response" in route and "safe_regex" in route["match"]
        ]
        self.open = []
        for rule in filters["envoy.filters.http.jwt_authn"]["rules"]:
            if "requires" in rule:
                continue
            match = rule["match"]
            if "safe_regex" in match:
                self.open.append(re.compile(match["safe_regex"]["regex"]))
            elif "path" in match:
                self.open.append(re.compile(re.escape(match["path"]) + "$"))
        lua = filters.get("envoy.filters.http.lua", {}).get("default_source_code", {}).get("inline_string", "")
        created = re.search(r"local CREATED = \{([^}]*)\}", lua)
        self.created = set(re.findall(r'\["([^"]+)"\]', created.group(1))) if created else set()

    def refuses(self, grpc_path: str) -> bool:
        return any(r.fullmatch(grpc_path) for r in self.denied)

    def is_open(self, grpc_path: str) -> bool:
        return any(r.fullmatch(grpc_path) for r in self.open)


def load_image(data: bytes):
    # registering the extensions before parsing makes them readable on the options
    from buf.validate import validate_pb2  # noqa: F401
    from google.api import annotations_pb2  # noqa: F401
    from google.protobuf import descriptor_pb2

    return descriptor_pb2.FileDescriptorSet.FromString(data)


# --- the document ---------------------------------------------------------------------------


class _Builder:
    def __init__(self, image, gateway: Gateway):
        self.gateway = gateway
        self.messages: dict[str, Any] = {}
        self.enums: dict[str, Any] = {}
        self.comments: dict[str, str] = {}
        self.files: dict[str, Any] = {}
        for file in image.file:
            self.files[file.name] = file
            locations = {tuple(loc.path): loc for loc in file.source_code_info.location}
            prefix = f".{file.package}" if file.package else ""
            for i, message in enumerate(file.message_type):
                self._index_message(message, f"{prefix}.{message.name}", (4, i), locations)
            for i, enum in enumerate(file.enum_type):
                self._index_enum(enum, f"{prefix}.{enum.name}", (5, i), locations)
            for i, service in enumerate(file.service):
                name = f"{prefix}.{service.name}"
                self.comments[name] = _comment(locations.get((6, i)))
                for j, method in enumerate(service.method):
                    self.comments[f"{name}.{method.name}"] = _comment(locations.get((6, i, 2, j)))
        self.schemas: dict[str, Any] = {}

    def _index_message(self, message, name: str, path: tuple, locations) -> None:
        self.messages[name] = message
        self.comments[name] = _comment(locations.get(path))
        for i, field in enumerate(message.field):
            self.comments[f"{name}.{field.name}"] = _comment(locations.get((*path, 2, i)))
        for i, nested in enumerate(message.nested_type):
            self._index_message(nested, f"{name}.{nested.name}", (*path, 3, i), locations)
        for i, enum in enumerate(message.enum_type):
            self._index_enum(enum, f"{name}.{enum.name}", (*path, 4, i), locations)

    def _index_enum(self, enum, name: str, path: tuple, locations) -> None:
        self.enums[name] = enum
        self.comments[name] = _comment(locations.get(path))

    # schemas

    def ref(self, type_name: str) -> dict[str, Any]:
        """A $ref to the schema of a message or enum (made on first use), or a well-known type inline."""
        name = type_name.lstrip(".")
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder: recursive messages refer to themselves
            self.schemas[name] = self._enum_schema(type_name) if type_name in self.enums else self._message_schema(type_name)
        return {"$ref": f"#/components/schemas/{name}"}

    def _enum_schema(self, type_name: str) -> dict[str, Any]:
        enum = self.enums[type_name]
        return _described({"type": "string", "enum": [v.name for v in enum.value]}, self.comments.get(type_name, ""))

    def _message_schema(self, type_name: str, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
        message = self.messages[type_name]
        if message.options.map_entry:
            value = next(f for f in message.field if f.name == "value")
            return {"type": "object", "additionalProperties": self.field_schema(type_name, value)}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in message.field:
            if field.name in skip:
                continue
            properties[field.json_name] = self.field_schema(type_name, field)
            if _rules(field) is not None and _rules(field).required:
                required.append(field.json_name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return _described(schema, self.comments.get(type_name, ""))

    def field_schema(self, owner: str, field) -> dict[str, Any]:
        if field.type == _TYPE_MESSAGE:
            entry = self.messages.get(field.type_name)
            if entry is not None and entry.options.map_entry:
                value = next(f for f in entry.field if f.name == "value")
                schema: dict[str, Any] = {"type": "object", "additionalProperties": self.field_schema(field.type_name, value)}
            else:
                schema = self.ref(field.type_name)
        elif field.type == _TYPE_ENUM:
            schema = self.ref(field.type_name)
        else:
            schema = dict(_SCALARS[field.type])
        rules = _rules(field)
        repeated = field.label == _LABEL_REPEATED and not (
            field.type == _TYPE_MESSAGE and self.messages.get(field.type_name) is not None
            and self.messages[field.type_name].options.map_entry
        )
        if repeated:
            items = schema
            if rules is not None and rules.HasField("repeated") and rules.repeated.HasField("items"):
                _apply_rules(items, rules.repeated.items, ignore_if_zero=False)
            schema = {"type": "array", "items": items}
            if rules is not None and rules.HasField("repeated"):
                r = rules.repeated
                if r.HasField("min_items"):
                    schema["minItems"] = r.min_items
                if r.HasField("max_items"):
                    schema["maxItems"] = r.max_items
                if r.unique:
                    schema["uniqueItems"] = True
        elif rules is not None:
            schema = _apply_rules(schema, rules, ignore_if_zero=_ignores_zero(rules))
        description = self.comments.get(f"{owner}.{field.name}", "")
        if "$ref" in schema:  # OpenAPI 3.0 ignores siblings of $ref: wrap it
            schema = {"allOf": [schema]}
        return _described(schema, description)

    # operations

    def operations(self) -> tuple[dict[str, Any], list[dict[str, str]]]:
        from google.api import annotations_pb2

        paths: dict[str, dict[str, Any]] = {}
        tags: list[dict[str, str]] = []
        for file in sorted(self.files.values(), key=lambda f: f.name):
            for service in file.service:
                full = f"{file.package}.{service.name}"
                if full not in self.gateway.services:
                    continue
                tags.append(_described({"name": service.name}, self.comments.get(f".{full}", "")))
                for method in service.method:
                    grpc_path = f"/{full}/{method.name}"
                    if self.gateway.refuses(grpc_path) or not method.options.HasExtension(annotations_pb2.http):
                        continue
                    rule = method.options.Extensions[annotations_pb2.http]
                    for index, binding in enumerate((rule, *rule.additional_bindings)):
                        verb, template = _verb_and_path(binding)
                        operation = self._operation(service.name, full, method, binding, template, verb, index)
                        paths.setdefault(_openapi_path(template), {})[verb] = operation
        return paths, tags

    def _operation(self, service_name: str, full: str, method, binding, template: str, verb: str, index: int):
        request_type = method.input_type
        request = self.messages[request_type]
        fields = {f.name: f for f in request.field}
        path_vars = _path_variables(template)
        comment = self.comments.get(f".{full}.{method.name}", "")
        operation: dict[str, Any] = {
            "operationId": f"{service_name}_{method.name}" + (f"_{index}" if index else ""),
            "tags": [service_name],
        }
        if comment:
            operation["summary"] = _summary(comment)
            operation["description"] = comment
        parameters: list[dict[str, Any]] = []
        for var in path_vars:
            field = _field_at(self, request_type, var)
            parameters.append(
                _described({"name": var, "in": "path", "required": True, "schema": self._bare(request_type, var, field)},
                           self.comments.get(f"{request_type}.{var}", ""))
            )
        top_path_fields = frozenset(v.split(".")[0] for v in path_vars)
        if binding.body == "*":
            body_schema = self._message_schema(request_type, skip=top_path_fields)
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
        elif binding.body:
            body_field = fields[binding.body]
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self.field_schema(request_type, body_field)}},
            }
        if binding.body != "*":
            for field in request.field:
                if field.name in top_path_fields or field.name == binding.body:
                    continue
                parameters.extend(self._query_parameters(request_type, field, prefix=""))
        if parameters:
            operation["parameters"] = parameters
        status = "201" if verb == "post" and template in self.gateway.created else "200"
        answer: dict[str, Any] = {"content": {"application/json": {"schema": self.ref(method.output_type)}}}
        if method.server_streaming:
            answer["description"] = "A stream: one JSON object a line (newline-delimited), as the events come."
        else:
            answer["description"] = "Created." if status == "201" else "OK."
        operation["responses"] = {status: answer, "default": {"$ref": "#/components/responses/Error"}}
        if self.gateway.is_open(f"/{full}/{method.name}"):
            operation["security"] = []  # no access token needed
        return operation

    def _bare(self, owner: str, path: str, field) -> dict[str, Any]:
        schema = self.field_schema(_owner_of(self, owner, path), field)
        schema.pop("description", None)
        return schema

    def _query_parameters(self, owner: str, field, prefix: str, depth: int = 0) -> list[dict[str, Any]]:
        name = f"{prefix}{field.json_name}"
        entry = self.messages.get(field.type_name) if field.type == _TYPE_MESSAGE else None
        if entry is not None and field.type_name.lstrip(".") not in _WELL_KNOWN:
            if entry.options.map_entry or field.label == _LABEL_REPEATED or depth >= 2:
                return []  # not expressible as query parameters
            return [
                p for sub in entry.field for p in self._query_parameters(field.type_name, sub, f"{name}.", depth + 1)
            ]
        schema = self.field_schema(owner, field)
        description = schema.pop("description", "")
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
        if schema.get("type") == "array":
            parameter["style"] = "form"
            parameter["explode"] = True
        return [_described(parameter, description)]


def _field_at(builder: _Builder, message_type: str, path: str):
    field = None
    for part in path.split("."):
        field = next(f for f in builder.messages[message_type].field if f.name == part)
        message_type = field.type_name
    return field


def _owner_of(builder: _Builder, message_type: str, path: str) -> str:
    for part in path.split(".")[:-1]:
        message_type = next(f for f in builder.messages[message_type].field if f.name == part).type_name
    return message_type


def _rules(field):
    from buf.validate import validate_pb2

    if field.options.HasExtension(validate_pb2.field):
        return field.options.Extensions[validate_pb2.field]
    return None


def _ignores_zero(rules) -> bool:
    from buf.validate import validate_pb2

    return rules.ignore == validate_pb2.IGNORE_IF_ZERO_VALUE


def _apply_rules(schema: dict[str, Any], rules, *, ignore_if_zero: bool) -> dict[str, Any]:
    """The protovalidate rules JSON Schema can say, on the schema of one (non-repeated) value."""
    kind = rules.WhichOneof("type")
    if kind == "string":
        r = rules.string
        if r.HasField("min_len") and not ignore_if_zero:
            schema["minLength"] = r.min_len
        if r.HasField("max_len"):
            schema["maxLength"] = r.max_len
        if r.HasField("pattern") and not _UNPORTABLE_PATTERN.search(r.pattern):
            # an empty value skips the rule when the field ignores its zero value
            schema["pattern"] = f"^$|{r.pattern}" if ignore_if_zero else r.pattern
        if list(r.__getattribute__("in")):
            schema["enum"] = list(r.__getattribute__("in"))
    elif kind in ("int32", "uint32", "sint32", "fixed32", "sfixed32"):
        r = getattr(rules, kind)
        if r.HasField("gte"):
            schema["minimum"] = r.gte
        elif r.HasField("gt"):
            schema["minimum"], schema["exclusiveMinimum"] = r.gt, True
        if r.HasField("lte"):
            schema["maximum"] = r.lte
        elif r.HasField("lt"):
            schema["maximum"], schema["exclusiveMaximum"] = r.lt, True
    return schema


def _verb_and_path(binding) -> tuple[str, str]:
    verb = binding.WhichOneof("pattern")
    if verb == "custom":
        return binding.custom.kind.lower(), binding.custom.path
    return verb, getattr(binding, verb)


def _path_variables(template: str) -> list[str]:
    return [v.split("=")[0] for v in re.findall(r"\{([^}]+)\}", template)]


def _openapi_path(template: str) -> str:
    return re.sub(r"\{([^}=]+)(=[^}]*)?\}", r"{\1}", template)


def _comment(location) -> str:
    if location is None:
        return ""
    text = location.leading_comments or location.trailing_comments
    lines = [line[1:] if line.startswith(" ") else line for line in text.strip("\n").split("\n")]
    return "\n".join(lines).strip()


def _summary(comment: str) -> str:
    first = comment.split("\n\n")[0].replace("\n", " ")
    sentence = re.match(r"(.+?\.)(\s|$)", first)
    return (sentence.group(1) if sentence else first)[:120]


def _described(schema: dict[str, Any], description: str) -> dict[str, Any]:
    if description:
        schema["description"] = description
    return schema


def document(image_bytes: bytes, envoy_config: dict[str, Any]) -> dict[str, Any]:
    builder = _Builder(load_image(image_bytes), Gateway(envoy_config))
    paths, tags = builder.operations()
    schemas = {"Error": ERROR_SCHEMA, **dict(sorted(builder.schemas.items()))}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "tweetmesh REST API",
            "version": "v1",
            "description": (
                "Generated from the protos (tools/gen_openapi.py); do not edit. The REST face of the gRPC "
                "services, transcoded by the Envoy gateway. Send the access token of POST /v1/sessions as "
                "`Authorization: Bearer <token>`. Every answer carries `x-request-id`; every error has the "
                "shape of the Error schema."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "Access token of POST /v1/sessions (or /v1/sessions:refresh)."}
            },
            "responses": {
                "Error": {
                    "description": "An error, in the one REST error shape.",
                    "headers": {"x-request-id": {"schema": {"type": "string"}, "description": "The id of the call."}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
            "schemas": schemas,
        },
    }


def render(doc: dict[str, Any]) -> bytes:
    """Byte-stable text: `make check-gen` compares bytes."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def generate(image_bytes: bytes, envoy_yaml: Path = ENVOY_YAML) -> bytes:
    import yaml

    return render(document(image_bytes, yaml.safe_load(envoy_yaml.read_text())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--descriptor", type=Path, default=DESCRIPTOR)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(generate(args.descriptor.read_bytes()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
