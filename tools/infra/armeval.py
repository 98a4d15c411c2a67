"""A small evaluator of ARM template expressions, enough for infra/azuredeploy.json.

It evaluates a template's top-level resources for given parameter values (defaults filled in), so
the offline checks can assert what each hosting plan and each optional feature actually deploys:
conditions, SKUs, app settings, alert rules. `evaluate_nested()` also evaluates each nested
deployment (inner expression scope): its parameters in the outer template, then its inner
template's resources and outputs with those values, in the deployment's subscription and resource
group. A resource with `copy` becomes one instance per index (copyIndex()); filter() and map()
evaluate their lambda with its variable bound (lambdaVariables()). It is not ARM: `reference()`
and `listKeys()` return placeholders (`Ref`), `uniqueString()`/`guid()` are stable hashes but not
Azure's, `string()` of an object is compact JSON. An unknown function is an error, never a silent
guess.
"""

import hashlib
import json
import re

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-offline"
LOCATION = "westeurope"
TENANT = "00000000-0000-0000-0000-0000000000aa"


class EvalError(Exception):
    pass


class Ref:
    """What reference() returns: any property of it is another Ref; as a string, a placeholder."""

    def __init__(self, path):
        self.path = path

    def get(self, name):
        return Ref(f"{self.path}.{name}")

    def __str__(self):
        return f"<{self.path}>"

    def __repr__(self):
        return f"Ref({self.path!r})"

    def __eq__(self, other):
        return isinstance(other, Ref) and other.path == self.path

    def __hash__(self):
        return hash(self.path)


# --- parsing --------------------------------------------------------------------------------

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[(),.\[\]]))")


def tokenize(text):
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = TOKEN.match(text, pos)
        if not m:
            raise EvalError(f"cannot read expression at {text[pos:pos + 30]!r}")
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "str":
            value = value[1:-1].replace("''", "'")
        elif kind == "num":
            value = int(value)
        out.append((kind, value))
    return out


class Parser:
    def __init__(self, tokens):
        self.t = tokens
        self.i = 0

    def peek(self, value=None):
        if self.i >= len(self.t):
            return None
        tok = self.t[self.i]
        if value is not None and not (tok[0] == "op" and tok[1] == value):
            return None
        return tok

    def take(self, value=None):
        tok = self.peek(value)
        if tok is None:
            raise EvalError(f"expected {value or 'a token'} at token {self.i}: {self.t[self.i:self.i + 3]}")
        self.i += 1
        return tok

    def expr(self):
        kind, value = self.take()
        if kind == "str":
            node = ("lit", value)
        elif kind == "num":
            node = ("lit", value)
        elif kind == "name":
            self.take("(")
            args = []
            if not self.peek(")"):
                args.append(self.expr())
                while self.peek(","):
                    self.take(",")
                    args.append(self.expr())
            self.take(")")
            node = ("call", value.lower(), args)
        else:
            raise EvalError(f"unexpected {value!r}")
        while True:
            if self.peek("."):
                self.take(".")
                _, name = self.take()
                node = ("prop", node, name)
            elif self.peek("["):
                self.take("[")
                index = self.expr()
                self.take("]")
                node = ("index", node, index)
            else:
                return node


def parse(text):
    p = Parser(tokenize(text))
    node = p.expr()
    if p.i != len(p.t):
        raise EvalError(f"trailing tokens in {text!r}")
    return node


def is_expression(value):
    return isinstance(value, str) and value.startswith("[") and not value.startswith("[[") and value.endswith("]")


# --- evaluation -----------------------------------------------------------------------------


def unique_string(*args):
    return hashlib.sha256("|".join(map(str, args)).encode()).hexdigest()[:13]


def guid(*args):
    h = hashlib.sha256("|".join(map(str, args)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def resource_id(subscription, group, rtype, names):
    parts = rtype.split("/")
    namespace, types = parts[0], parts[1:]
    if len(types) != len(names):
        raise EvalError(f"resourceId({rtype}) needs {len(types)} names, got {names}")
    path = "/".join(f"{t}/{n}" for t, n in zip(types, names))
    prefix = f"/subscriptions/{subscription}"
    if group is not None:
        prefix += f"/resourceGroups/{group}"
    return f"{prefix}/providers/{namespace}/{path}"


class Template:
    def __init__(self, template, parameters=None, subscription=SUBSCRIPTION, resource_group=RESOURCE_GROUP):
        self.template = template
        self.subscription = subscription
        self.resource_group = resource_group
        self.params = {}
        given = parameters or {}
        unknown = set(given) - set(template.get("parameters", {}))
        if unknown:
            raise EvalError(f"unknown parameters {sorted(unknown)}")
        self._params_given = given
        self._vars = {}
        self._evaluating = set()
        self.copy_index = None  # the index of the copy instance being evaluated
        self._lambda = {}  # lambda variables in scope

    def parameter(self, name):
        if name in self.params:
            return self.params[name]
        decl = self.template.get("parameters", {}).get(name)
        if decl is None:
            raise EvalError(f"no parameter {name}")
        if name in self._params_given:
            value = self._params_given[name]
        elif "defaultValue" in decl:
            value = self.value(decl["defaultValue"])
        else:
            raise EvalError(f"parameter {name} is required")
        allowed = decl.get("allowedValues")
        if allowed is not None and value not in allowed:
            raise EvalError(f"parameter {name}={value!r} is not one of {allowed}")
        self.params[name] = value
        return value

    def variable(self, name):
        if name in self._vars:
            return self._vars[name]
        if name in self._evaluating:
            raise EvalError(f"variable {name} refers to itself")
        decls = self.template.get("variables", {})
        if name not in decls:
            raise EvalError(f"no variable {name}")
        self._evaluating.add(name)
        value = self.value(decls[name])
        self._evaluating.discard(name)
        self._vars[name] = value
        return value

    def value(self, v):
        """A template value: expressions evaluated, objects and arrays deeply."""
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, str):
            if is_expression(v):
                return self.eval(parse(v[1:-1]))
            if v.startswith("[["):
                return v[1:]
        return v

    def eval(self, node):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "prop":
            base = self.eval(node[1])
            return self.member(base, node[2])
        if kind == "index":
            base = self.eval(node[1])
            index = self.eval(node[2])
            if isinstance(base, Ref):
                return base.get(str(index))
            if isinstance(base, dict) and isinstance(index, str) and index not in base:
                # What ARM reports too: the missing property's name, and the ones there are.
                raise EvalError(f"The language expression property '{index}' doesn't exist, available properties are "
                                f"'{', '.join(base)}'.")
            try:
                return base[index]
            except (KeyError, IndexError, TypeError) as e:
                raise EvalError(f"cannot index {base!r} with {index!r}") from e
        if kind == "call":
            name, args = node[1], node[2]
            if name == "if":
                if len(args) != 3:
                    raise EvalError("if() takes 3 arguments")
                return self.eval(args[1]) if self.truthy(self.eval(args[0])) else self.eval(args[2])
            if name in ("filter", "map"):
                return self.apply_lambda(name, args)
            return self.call(name, [self.eval(a) for a in args])
        raise EvalError(f"unknown node {node!r}")

    def apply_lambda(self, name, args):
        """filter(array, lambda('x', body)) and map(array, lambda('x', body))."""
        if len(args) != 2 or args[1][0] != "call" or args[1][1] != "lambda" or len(args[1][2]) != 2:
            raise EvalError(f"{name}() takes an array and a lambda of one variable")
        items = self.eval(args[0])
        if not isinstance(items, list):
            raise EvalError(f"{name}() of {items!r}, not an array")
        var, body = self.eval(args[1][2][0]), args[1][2][1]
        outer = dict(self._lambda)
        out = []
        try:
            for item in items:
                self._lambda = {**outer, var: item}
                value = self.eval(body)
                if name == "map":
                    out.append(value)
                elif self.truthy(value):
                    out.append(item)
        finally:
            self._lambda = outer
        return out

    @staticmethod
    def member(base, name):
        if isinstance(base, Ref):
            return base.get(name)
        if isinstance(base, dict):
            if name not in base:
                raise EvalError(f"no property {name} in {sorted(base)}")
            return base[name]
        raise EvalError(f"cannot read .{name} of {base!r}")

    @staticmethod
    def truthy(value):
        if not isinstance(value, bool):
            raise EvalError(f"condition is not a bool: {value!r}")
        return value

    def call(self, name, a):
        rg_id = f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
        if name == "parameters":
            return self.parameter(a[0])
        if name == "variables":
            return self.variable(a[0])
        if name == "resourcegroup":
            return {"id": rg_id, "name": self.resource_group, "location": LOCATION}
        if name == "subscription":
            return {"id": f"/subscriptions/{self.subscription}", "subscriptionId": self.subscription, "tenantId": TENANT}
        if name == "environment":
            return {"name": "AzureCloud", "suffixes": {"storage": "core.windows.net"}}
        if name == "uniquestring":
            return unique_string(*a)
        if name == "guid":
            return guid(*a)
        if name == "format":
            fmt = a[0]

            def sub(m):
                return str(a[int(m.group(1)) + 1])

            return re.sub(r"\{(\d+)\}", sub, fmt)
        if name == "concat":
            if all(isinstance(x, list) for x in a):
                return [y for x in a for y in x]
            return "".join(str(x) for x in a)
        if name == "createarray":
            return list(a)
        if name == "createobject":
            if len(a) % 2:
                raise EvalError("createObject() needs name/value pairs")
            return {a[i]: a[i + 1] for i in range(0, len(a), 2)}
        if name == "union":
            if all(isinstance(x, list) for x in a):
                # Arrays: every value once, in order of first appearance (duplicates within one array too).
                out = []
                for x in a:
                    out.extend(y for y in x if y not in out)
                return out
            out = {}
            for x in a:
                out.update(x)
            return out
        if name == "length":
            if isinstance(a[0], (str, list, dict)):
                return len(a[0])
            raise EvalError(f"length() of {a[0]!r}")
        if name == "join":
            if not isinstance(a[0], list):
                raise EvalError(f"join() of {a[0]!r}, not an array")
            return str(a[1]).join(str(x) for x in a[0])
        if name == "lambdavariables":
            if a[0] not in self._lambda:
                raise EvalError(f"no lambda variable {a[0]!r}")
            return self._lambda[a[0]]
        if name == "copyindex":
            if self.copy_index is None:
                raise EvalError("copyIndex() outside a copy loop")
            offset = next((x for x in a if isinstance(x, int)), 0)
            return self.copy_index + offset
        if name == "equals":
            return a[0] == a[1]
        if name == "not":
            return not self.truthy(a[0])
        if name == "and":
            return all(self.truthy(x) for x in a)
        if name == "or":
            return any(self.truthy(x) for x in a)
        if name == "empty":
            return a[0] is None or len(a[0]) == 0
        if name == "split":
            return a[0].split(a[1])
        if name == "string":
            if isinstance(a[0], bool):
                return "True" if a[0] else "False"
            if isinstance(a[0], (dict, list)):
                return json.dumps(a[0], separators=(",", ":"), ensure_ascii=False, default=str)
            return str(a[0])
        if name == "replace":
            return str(a[0]).replace(str(a[1]), str(a[2]))
        if name == "tolower":
            return a[0].lower()
        if name == "null":
            return None
        if name == "true":
            return True
        if name == "false":
            return False
        if name == "reference":
            return Ref(f"reference({a[0]})")
        if name == "listkeys":
            return Ref(f"listKeys({a[0]})")
        if name == "resourceid":
            # resourceId([subscriptionId], [resourceGroupName], type, name1, ...)
            i = next(k for k, x in enumerate(a) if isinstance(x, str) and "/" in x and not x.startswith("/"))
            head = a[:i]
            sub = head[0] if len(head) == 2 else self.subscription
            group = head[-1] if head else self.resource_group
            return resource_id(sub, group, a[i], a[i + 1:])
        if name == "subscriptionresourceid":
            return resource_id(self.subscription, None, a[0], a[1:])
        if name == "extensionresourceid":
            return f"{a[0]}/providers/{a[1]}/" + "/".join(map(str, a[2:]))
        raise EvalError(f"function {name}() is not supported by the offline evaluator")

    def resources(self):
        """The top-level resources, evaluated: each a dict with `deployed` (the condition) and the
        resource's own keys evaluated (a nested deployment's inner template is left as it is)."""
        out = []
        for res, index in self.instances():
            item = {"deployed": self.truthy(self.value(res.get("condition", True)))}
            for key, value in res.items():
                if key in ("condition", "copy"):
                    continue
                if key == "properties" and res.get("type") == "Microsoft.Resources/deployments":
                    item[key] = value
                    continue
                item[key] = self.value(value)
            if index is not None:
                item["copy"] = {"name": res["copy"].get("name"), "index": index}
            out.append(item)
        return out

    def instances(self):
        """(resource, copy index) for every top-level resource: one per index of a `copy` loop (the
        index also set as copy_index while the caller evaluates it), (resource, None) otherwise."""
        for res in self.template.get("resources", []):
            copy = res.get("copy")
            if copy is None:
                self.copy_index = None
                yield res, None
                continue
            self.copy_index = None
            count = self.value(copy.get("count"))
            if not isinstance(count, int) or count < 0:
                raise EvalError(f"copy {copy.get('name')}: count {count!r}")
            for i in range(count):
                self.copy_index = i
                yield res, i
        self.copy_index = None


    def outputs(self):
        return {name: self.value(o.get("value")) for name, o in self.template.get("outputs", {}).items()}


def evaluate(template, parameters=None):
    """Evaluated top-level resources and the parameter values used."""
    t = Template(template, parameters)
    resources = t.resources()
    for name in template.get("parameters", {}):
        t.parameter(name)
    return resources, t.params


def evaluate_nested(template, parameters=None):
    """Every top-level nested deployment (each instance of a copy loop), evaluated: a dict with
    `name`, `copy` (None, or the loop's name and this instance's index), `deployed`, `subscription`,
    `resource_group` (where it deploys), `dependsOn`, `parameters` (the values passed in), and the
    inner template's evaluated `resources` and `outputs`."""
    outer = Template(template, parameters)
    out = []
    for res, index in outer.instances():
        if res.get("type") != "Microsoft.Resources/deployments":
            continue
        props = res.get("properties", {})
        if props.get("expressionEvaluationOptions", {}).get("scope") != "inner":
            raise EvalError(f"deployment {res.get('name')}: only inner-scope nested deployments are evaluated")
        values = {k: outer.value(v.get("value")) for k, v in props.get("parameters", {}).items()}
        sub = outer.value(res.get("subscriptionId", outer.subscription))
        group = outer.value(res.get("resourceGroup", outer.resource_group))
        inner = Template(props.get("template", {}), values, subscription=sub, resource_group=group)
        out.append({
            "name": outer.value(res.get("name")),
            "copy": None if index is None else {"name": res["copy"].get("name"), "index": index},
            "deployed": outer.truthy(outer.value(res.get("condition", True))),
            "subscription": sub,
            "resource_group": group,
            "dependsOn": outer.value(res.get("dependsOn", [])),
            "parameters": values,
            "resources": inner.resources(),
            "outputs": inner.outputs(),
        })
    return out


def bracket_strings(node, path="$"):
    """Paths of the strings in `node` that ARM would evaluate as expressions (they start with
    '[' but not '[['): a file embedded in a template must hold none."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in bracket_strings(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in bracket_strings(v, f"{path}[{i}]")]
    return [path] if isinstance(node, str) and node.startswith("[") and not node.startswith("[[") else []
