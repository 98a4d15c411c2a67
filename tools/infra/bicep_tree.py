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


# --- pycep expressions as ARM expressions ---------------------------------------------------------
#
# pycep's tree does not say whether a bare string is a name or a literal ('x' and x both read "x"),
# and it keeps string interpolations as raw text. to_arm() decides by the names in scope (a string
# that names a parameter, variable, resource, module, loop or lambda variable is that name, any
# other string a literal) and parses each ${...} with pycep, so that a Bicep expression becomes
# the ARM expression Bicep would compile it to, near enough for armeval to evaluate both alike.

OPERATORS = {"equals": "equals", "and": "and", "or": "or", "greater_than": "greater",
             "greater_than_or_equals": "greaterOrEquals", "less_than": "less",
             "less_than_or_equals": "lessOrEquals", "add": "add", "substract": "sub"}


class Untranslatable(Exception):
    pass


class Names:
    """What each name means in one Bicep file (main.bicep's tree), plus loop and lambda variables."""

    def __init__(self, tree, extra=None):
        self.tree = tree
        self.extra = dict(extra or {})  # name -> ARM expression text (loop variables)

    def with_names(self, **names):
        return Names(self.tree, {**self.extra, **names})

    def kind(self, name):
        if name in self.extra:
            return "extra"
        for kind in ("parameters", "variables", "resources", "modules"):
            if name in self.tree.get(kind, {}):
                return kind
        return None


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


_PARSER = []


def _parse_expression(text):
    """A Bicep expression's pycep tree (pycep parses files: the expression becomes a variable)."""
    if not _PARSER:
        from pycep import BicepParser  # the offline checker's parser, built once (lark is slow to build)
        _PARSER.append(BicepParser())
    return _PARSER[0].parse(text=f"var x = {text}\n")["variables"]["x"]["value"]


def _interpolation(text, names):
    """'a${x}b' as format('a{0}b', <x>), the way Bicep compiles an interpolated string."""
    fmt, args, i = "", [], 0
    while True:
        start = text.find("${", i)
        literal = text[i:] if start < 0 else text[i:start]
        if "{" in literal or "}" in literal:
            raise Untranslatable(f"braces in the literal part of {text!r}")
        fmt += literal
        if start < 0:
            break
        depth, j, quoted = 1, start + 2, False
        while j < len(text) and depth:
            c = text[j]
            if c == "'":
                quoted = not quoted
            elif not quoted and c in "{}":
                depth += 1 if c == "{" else -1
            j += 1
        if depth:
            raise Untranslatable(f"unterminated interpolation in {text!r}")
        args.append(to_arm(_parse_expression(text[start + 2:j - 1]), names))
        fmt += "{%d}" % (len(args) - 1)
        i = j
    return f"format({', '.join([_literal(fmt)] + args)})"


def chain(node):
    """`a.b.c` (pycep nests accessors to the right) as ["a", "b", "c"] after the base; None if not."""
    if isinstance(node, str):
        return [node]
    operands = op(node, "property_accessor")
    if operands and isinstance(operands["operand_1"], str):
        rest = chain(operands["operand_2"])
        return [operands["operand_1"]] + rest if rest else None
    return None


def resource_id(name, names):
    """The ARM resourceId() of a resource or module declared in the file."""
    kind = names.kind(name)
    decl = names.tree[kind][name]
    config = body(decl)
    if "parent" in config:
        raise Untranslatable(f"{name}: a child resource")
    rtype = decl["type"] if kind == "resources" else "Microsoft.Resources/deployments"
    args = [_literal(rtype), to_arm(config.get("name"), names)]
    scope = fn(config.get("scope"), "resource_group")
    if scope:
        args = [to_arm(scope["subscription_id"], names), to_arm(scope["resource_group_name"], names)] + args
    elif config.get("scope") is not None:
        raise Untranslatable(f"{name}: scope {config.get('scope')}")
    return f"resourceId({', '.join(args)})"


def _symbol_path(name, path, names):
    kind = names.kind(name)
    rid = resource_id(name, names)
    if kind == "modules":
        if len(path) == 2 and path[0] == "outputs":
            return f"reference({rid}, '2022-09-01').outputs.{path[1]}.value"
        if path == ["name"]:
            return to_arm(body(names.tree["modules"][name]).get("name"), names)
        raise Untranslatable(f"module {name}.{'.'.join(path)}")
    api = names.tree["resources"][name]["api_version"]
    if path == ["id"]:
        return rid
    if path == ["name"]:
        return to_arm(body(names.tree["resources"][name]).get("name"), names)
    if path[0] == "properties":
        return f"reference({rid}, '{api}')" + "".join(f".{p}" for p in path[1:])
    return f"reference({rid}, '{api}', 'full')" + "".join(f".{p}" for p in path)


def to_arm(node, names):
    """The ARM expression (without brackets) for a pycep expression node."""
    if node is None:
        return "null()"
    if isinstance(node, bool):
        return "true()" if node else "false()"
    if isinstance(node, int):
        return str(node)
    if isinstance(node, str):
        kind = names.kind(node)
        if kind == "extra":
            return names.extra[node]
        if kind == "parameters":
            return f"parameters('{node}')"
        if kind == "variables":
            return f"variables('{node}')"
        if kind in ("resources", "modules"):
            raise Untranslatable(f"{node} used as a value")
        return _interpolation(node, names) if "${" in node else _literal(node)
    if isinstance(node, list):
        return f"createArray({', '.join(to_arm(v, names) for v in node)})"
    if isinstance(node, dict) and node.get("type") == "lambda_expression":
        detail = node["detail"]
        variables = [v for k, v in detail.items() if k.startswith("var_")]
        inner = names.with_names(**{v: f"lambdaVariables('{v}')" for v in variables})
        return f"lambda({', '.join(_literal(v) for v in variables)}, {to_arm(detail['expression'], inner)})"
    if isinstance(node, dict) and isinstance(node.get("function"), dict):
        f = node["function"]
        args = list(f.get("parameters", {}).values())
        while args and args[-1] is None:  # optional arguments pycep fills with None
            args.pop()
        return f"{f['type'].replace('_', '')}({', '.join(to_arm(a, names) for a in args)})"
    if isinstance(node, dict) and isinstance(node.get("operator"), dict):
        kind, operands = node["operator"]["type"], node["operator"]["operands"]
        if kind == "property_accessor":
            path = chain(node)
            if path and names.kind(path[0]) in ("resources", "modules"):
                return _symbol_path(path[0], path[1:], names)
            rest = chain(operands["operand_2"])
            if rest is None:
                raise Untranslatable(f"property access {dumps(node)}")
            return to_arm(operands["operand_1"], names) + "".join(f".{p}" for p in rest)
        if kind == "index_accessor":
            return f"{to_arm(operands['operand_1'], names)}[{to_arm(operands['operand_2'], names)}]"
        if kind == "conditional":
            return (f"if({to_arm(operands['condition'], names)}, {to_arm(operands['true_value'], names)}, "
                    f"{to_arm(operands['false_value'], names)})")
        if kind == "not":
            return f"not({to_arm(operands['bool_value'], names)})"
        if kind == "not_equals":
            return f"not(equals({to_arm(operands['operand_1'], names)}, {to_arm(operands['operand_2'], names)}))"
        if kind in OPERATORS:
            return f"{OPERATORS[kind]}({to_arm(operands['operand_1'], names)}, {to_arm(operands['operand_2'], names)})"
        raise Untranslatable(f"operator {kind}")
    if isinstance(node, dict):  # an object literal
        pairs = [f"{_literal(unquote_keys({k: 0}).popitem()[0])}, {to_arm(v, names)}" for k, v in node.items()]
        return f"createObject({', '.join(pairs)})"
    raise Untranslatable(f"node {node!r}")


def arm_variables(tree):
    """main.bicep's variables as ARM variable values ("[expression]"), for armeval: a variable
    that cannot be translated becomes a call of untranslatable(), which armeval refuses by name."""
    names = Names(tree)
    out = {}
    for name, decl in tree.get("variables", {}).items():
        try:
            out[name] = "[" + to_arm(decl.get("value"), names) + "]"
        except Untranslatable as e:
            out[name] = f"[untranslatable('{name}: {str(e)[:80].replace(chr(39), '')}')]"
    return out
