"""Person-readable descriptions of protovalidate violations, keeping protovalidate's rule ids.

protovalidate describes a failed `string.pattern` rule with the regex itself ("does not match regex
pattern `^[1-9][0-9]{0,18}$`"), which helps nobody filling in a form. The one table below says what
each pattern of our protos means; the other rules read well as protovalidate words them, apart from
a few (plural of 1, "value must ..."), rephrased here. The field path and the rule id are kept: a
client branches on `field` and the rule id, a person reads the description.

A pattern missing from PATTERN_DESCRIPTIONS reads "has an invalid format"; a unit test walks every
pattern of protos/ so a new one gets its description in the same change.
"""

from __future__ import annotations

from typing import Any

# regex of a string.pattern rule (also inside repeated.items) -> what a person is told
PATTERN_DESCRIPTIONS: dict[str, str] = {
    "^[1-9][0-9]{0,18}$": "must be a numeric id (digits only, no leading zero)",
    "^[A-Za-z0-9_-]{1,64}$": "must be 1 to 64 letters, digits, '_' or '-' (e.g. a UUID)",
    "^[A-Za-z0-9_]{3,15}$": "must be 3 to 15 letters, digits or '_'",
    "^[A-Za-z0-9_]{1,15}$": "must be 1 to 15 letters, digits or '_'",
    "^[0-9A-Fa-f]{64,200}$": "must be 64 to 200 hexadecimal digits",
    "\\S": "must not be blank",
    "^[^\\p{Cc}]*[^\\p{Cc}\\s][^\\p{Cc}]*$": "must not be blank, nor contain line breaks or other control characters",
    "^[^\\p{Cc}]*$": "must not contain line breaks or other control characters",
    "^[A-Za-z0-9_:-]+$": "may contain only letters, digits, '_', ':' and '-'",
}
UNKNOWN_PATTERN = "has an invalid format"


def _plural(count: Any, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def describe(rule_id: str, rule_value: Any, message: str) -> str:
    """The description of one violation: `message` is protovalidate's, used when nothing reads better."""
    if rule_id == "string.pattern":
        return PATTERN_DESCRIPTIONS.get(str(rule_value), UNKNOWN_PATTERN)
    if rule_id == "string.min_len":
        return "must not be empty" if rule_value == 1 else f"must be at least {_plural(rule_value, 'character', 'characters')}"
    if rule_id == "string.max_len":
        return f"must be at most {_plural(rule_value, 'character', 'characters')}"
    if rule_id == "string.in":
        return "must be one of " + ", ".join(str(v) for v in rule_value) if rule_value else message
    if rule_id == "repeated.min_items":
        return f"must have at least {_plural(rule_value, 'item', 'items')}"
    if rule_id == "repeated.max_items":
        return f"must have at most {_plural(rule_value, 'item', 'items')}"
    if rule_id == "repeated.unique":
        return "must not contain the same value twice"
    if rule_id == "required":
        return "is required"
    if rule_id == "enum.defined_only":
        return "must be one of the values the API defines"
    return message
