"""Index templates and aliases against the real Elasticsearch."""

from __future__ import annotations

import json
import uuid

import pytest
from elasticsearch import AsyncElasticsearch, BadRequestError

from mesh.schema import MIGRATIONS_DIR, ensure_search_indices
from tests.conftest import require_listening


@pytest.fixture
async def es(stack):
    require_listening(stack.host, stack.es_port, "Elasticsearch")
    async with AsyncElasticsearch(stack.es_url, request_timeout=30) as client:
        yield client


async def test_first_index_is_created_behind_its_alias_once(stack, es, tmp_path):
    alias = f"it-{uuid.uuid4().hex[:10]}"
    template = {
        "index_patterns": [f"{alias}-v*"],
        "_meta": {"version": 3, "alias": alias},
        "template": {"mappings": {"dynamic": "strict", "properties": {"text": {"type": "text"}}}},
    }
    (tmp_path / f"{alias}.json").write_text(json.dumps(template))
    try:
        assert await ensure_search_indices(stack, tmp_path) == [f"{alias}-v3"]
        assert await ensure_search_indices(stack, tmp_path) == []
        aliases = await es.indices.get_alias(name=alias)
        assert aliases.body == {f"{alias}-v3": {"aliases": {alias: {"is_write_index": True}}}}
        await es.index(index=alias, id="1", document={"text": "hello world"}, refresh=True)
        with pytest.raises(BadRequestError, match="strict_dynamic_mapping_exception"):
            await es.index(index=alias, id="2", document={"text": "x", "unexpected": 1})
    finally:
        await es.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
        await es.options(ignore_status=404).indices.delete_index_template(name=alias)


async def test_project_templates_resolve_to_strict_mappings(es):
    for path in sorted((MIGRATIONS_DIR / "elasticsearch").glob("*.json")):
        meta = json.loads(path.read_text())["_meta"]
        assert await es.indices.exists_alias(name=meta["alias"]), f"alias {meta['alias']} missing: run `make up`"
        simulated = await es.indices.simulate_index_template(name=f"{meta['alias']}-v999")
        mappings = simulated["template"]["mappings"]
        assert mappings["dynamic"] == "strict"
    tweets = await es.indices.simulate_index_template(name="tweets-v999")
    properties = tweets["template"]["mappings"]["properties"]
    assert properties["text"]["type"] == "text"
    assert properties["hashtags"]["type"] == "keyword"
    assert properties["created_at"]["type"] == "date"
