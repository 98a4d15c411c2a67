"""Reading pycep-parser's tree of a Bicep file (pycep parses, it does not evaluate)."""

import json


def body(res):
    """A pycep resource's or module's own config (a conditional one nests it under config.config)."""
    config = res.get("config", {})
    return config.get("config", config) if "condition" in config else config


def condition(res):
    """The condition of a conditional resource or module (pycep's tree of it), else None."""
    return res.get("config", {}).get("condition")


def op(node, kind):
    """The operands of a pycep operator node of that kind, or None."""
    if isinstance(node, dict) and isinstance(node.get("operator"), dict) and node["operator"].get("type") == kind:
        return node["operator"]["operands"]
    return None


def fn(node, kind):
    """The parameters of a pycep function-call node of that kind, or None."""
    if isinstance(node, dict) and isinstance(node.get("function"), dict) and node["function"].get("type") == kind:
        return node["function"].get("parameters", {})
    return None


def accessor(node):
    """`a.b.c` as the string "a.b.c" when node is a chain of property accessors over names, else None."""
    if isinstance(node, str):
        return node
    operands = op(node, "property_accessor")
    if not operands:
        return None
    left, right = accessor(operands["operand_1"]), accessor(operands["operand_2"])
    return f"{left}.{right}" if left is not None and right is not None else None


def unquote_keys(node):
    """pycep keeps a quoted object key's quotes ('$schema'); this drops them, deeply."""
    if isinstance(node, dict):
        return {(k[1:-1] if isinstance(k, str) and len(k) > 1 and k[0] == k[-1] == "'" else k): unquote_keys(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [unquote_keys(v) for v in node]
    return node


def dumps(node):
    return json.dumps(node, sort_keys=True, default=str)
