// The script API of Ironworx, evaluated once in each pooled context (server/src/script/
// engine.rs), which then runs one outermost service after another. Before the first, every
// object reachable from the global object (the language's intrinsics and this API) is frozen;
// after each, `reset` puts the global object back as it was and drops what the call cached, so
// nothing one call leaves is seen by the next (a context whose reset fails is not reused).
// It reaches the server only through the two native functions it takes from the global object
// and removes from it: `__ironworxHost(op, json)` answers one host operation as JSON
// ({"v": value} or {"e": message, "k": failure}), and `__ironworxCompile(source, file)` compiles a wrapped service body into a function. Every
// permission check, value check and write happens on the server side of `host`.
(function (global) {
    "use strict";
    const rawHost = global.__ironworxHost;
    const compile = global.__ironworxCompile;
    delete global.__ironworxHost;
    delete global.__ironworxCompile;
    // Taken now, so that a script replacing them changes nothing the prelude does.
    const parse = JSON.parse;
    const stringify = JSON.stringify;
    const defineProperty = Object.defineProperty;
    const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
    const getPrototypeOf = Object.getPrototypeOf;
    const ownKeys = Reflect.ownKeys;
    const hasOwn = Object.prototype.hasOwnProperty;
    const ScriptError = Error;

    function host(op, arg) {
        const answer = parse(rawHost(op, stringify(arg === undefined ? null : arg)));
        if (answer.e !== undefined) {
            const error = new ScriptError(answer.e);
            if (answer.k !== undefined) {
                defineProperty(error, "ironworxFailure", { value: answer.k });
            }
            throw error;
        }
        return answer.v;
    }

    // InfoTables: `rows` is an array, `dataShape.fields` (and `fieldDefinitions`) maps each
    // field name to its definition. As in ThingWorx, a name that is not a member of the table
    // reads and writes the field of the first row (`entry.Stock`, `values.Article = "x"`, the
    // row made by the first write), and an index reads a row (`table[2]`).
    // A field of the data shape is a field even where the table has a member of its name
    // (`name`, `length`), but for the two the table's own code uses.
    function isRowField(target, key) {
        if (typeof key !== "string" || key === "rows" || key === "dataShape" || isIndex(key)) {
            return false;
        }
        return hasOwn.call(target.dataShape.fieldDefinitions, key) || !(key in target);
    }
    function isIndex(key) {
        return typeof key === "string" && /^(0|[1-9][0-9]*)$/.test(key);
    }
    const firstRow = {
        get(target, key, receiver) {
            if (isIndex(key)) {
                return target.rows[Number(key)];
            }
            if (!isRowField(target, key)) {
                return Reflect.get(target, key, receiver);
            }
            const row = target.rows[0];
            return row === undefined ? undefined : row[key];
        },
        set(target, key, value) {
            if (!isRowField(target, key)) {
                return Reflect.set(target, key, value);
            }
            if (target.rows.length === 0) {
                target.rows.push({});
            }
            target.rows[0][key] = value;
            return true;
        },
    };

    class InfoTable {
        constructor(shape, name) {
            const fields = (shape && (shape.fieldDefinitions || shape.fields)) || {};
            this.dataShape = { fieldDefinitions: fields, fields: fields };
            this.rows = [];
            this.name = name || (shape && shape.name) || "";
            return new Proxy(this, firstRow);
        }
        AddRow(row) {
            const copy = {};
            for (const key of Object.keys(row || {})) {
                copy[key] = row[key];
            }
            this.rows.push(copy);
        }
        getRowCount() {
            return this.rows.length;
        }
        getLength() {
            return this.rows.length;
        }
        getRow(index) {
            return this.rows[index];
        }
        get length() {
            return this.rows.length;
        }
        Find(values) {
            return this.rows.find((row) => matches(row, values)) || null;
        }
        Delete(values) {
            const before = this.rows.length;
            this.rows = this.rows.filter((row) => !matches(row, values));
            return before - this.rows.length;
        }
        // Sorts the rows in place by the field `name` (`ascending` unless false).
        Sort(params) {
            const p = params || {};
            const field = p.name;
            const direction = p.ascending === false ? -1 : 1;
            this.rows.sort((a, b) => direction * compareValues(a[field], b[field]));
        }
        // Keeps the rows whose fields equal every value of `values`.
        Filter(values) {
            this.rows = this.rows.filter((row) => matches(row, values));
        }
        RemoveAllRows() {
            this.rows = [];
        }
        ToJSON() {
            return parse(stringify(this));
        }
        toJSON() {
            return {
                dataShape: { fieldDefinitions: this.dataShape.fieldDefinitions },
                rows: this.rows,
            };
        }
    }

    // Nulls first, then numbers, dates and strings in their natural order.
    function compareValues(a, b) {
        if (a === b) {
            return 0;
        }
        if (a === null || a === undefined) {
            return -1;
        }
        if (b === null || b === undefined) {
            return 1;
        }
        const x = a instanceof Date ? a.getTime() : a;
        const y = b instanceof Date ? b.getTime() : b;
        return x < y ? -1 : x > y ? 1 : 0;
    }

    function matches(row, values) {
        return Object.keys(values || {}).every((key) => row[key] === values[key]);
    }

    function infoTable(json) {
        const table = new InfoTable(json && json.dataShape);
        for (const row of (json && json.rows) || []) {
            table.AddRow(row);
        }
        return table;
    }

    // A value from the server, typed by its base type.
    function fromWire(value, baseType) {
        if (value === null || value === undefined) {
            return value;
        }
        if (baseType === "DATETIME") {
            return new Date(value);
        }
        if (baseType === "INFOTABLE") {
            return infoTable(value);
        }
        return value;
    }

    // Compiled services by their wrapped source, kept across calls (each function frozen);
    // dropped whole when it grows past `COMPILED_MOST`.
    const COMPILED_MOST = 256;
    let compiled = new Map();
    // Per call: Thing proxies, whether a Thing is visible, and what each member of a Thing
    // read as (`{value, baseType}`, `{service: true}` or `null`), seeded with the snapshot of
    // `me` the server takes at the start and dropped entry by entry when written.
    let things = new Map();
    let visible = new Map();
    let members = new Map();

    function membersOf(thing) {
        let known = members.get(thing);
        if (known === undefined) {
            known = new Map();
            members.set(thing, known);
        }
        return known;
    }

    // Runs one service of a Thing: the server checks ServiceInvoke and types the parameters
    // ("enter"), the script runs in this context, the server types the result ("result").
    function invoke(thing, service, params) {
        const plan = host("enter", { thing: thing, service: service, params: params || {} });
        try {
            return run(plan);
        } finally {
            host("leave", null);
        }
    }

    // `outermost`: the result goes back to the server as `{value}` JSON text.
    function run(plan, outermost) {
        const key = plan.file + "\n" + plan.source;
        let fn = compiled.get(key);
        if (fn === undefined) {
            fn = compile(plan.source, plan.file);
            Object.freeze(fn);
            Object.freeze(fn.prototype);
            if (compiled.size >= COMPILED_MOST) {
                compiled = new Map();
            }
            compiled.set(key, fn);
        }
        const args = {};
        for (const p of plan.params) {
            args[p.name] = fromWire(p.value, p.baseType);
        }
        const value = fn(thingProxy(plan.thing), args);
        const wire = value === undefined ? null : value;
        if (outermost) {
            // The server types the outermost result itself, after the script ended.
            return stringify({ value: wire });
        }
        return fromWire(host("result", { value: wire }), plan.resultType);
    }

    function thingProxy(name) {
        const known = things.get(name);
        if (known !== undefined) {
            return known;
        }
        const proxy = new Proxy(
            {},
            {
                get(target, key) {
                    if (typeof key !== "string") {
                        return undefined;
                    }
                    if (key === "name") {
                        return name;
                    }
                    if (key === "FireEvent") {
                        return function (params) {
                            const p = params || {};
                            host("fire", { thing: name, event: p.eventName, data: p.eventData === undefined ? null : p.eventData });
                        };
                    }
                    const cache = membersOf(name);
                    let member = cache.get(key);
                    if (member === undefined) {
                        member = host("member", { thing: name, name: key });
                        cache.set(key, member);
                    }
                    if (member === null) {
                        return undefined;
                    }
                    if (member.event) {
                        return function (data) {
                            host("fire", { thing: name, event: key, data: data === undefined ? null : data });
                        };
                    }
                    if (member.builtin) {
                        return function (params) {
                            const answer = host("builtin", { thing: name, service: key, params: params || {} });
                            return answer !== null && typeof answer === "object" && answer.rows !== undefined ? infoTable(answer) : answer;
                        };
                    }
                    if (member.service) {
                        return function (params) {
                            return invoke(name, key, params);
                        };
                    }
                    return fromWire(member.value, member.baseType);
                },
                set(target, key, value) {
                    if (typeof key !== "string") {
                        return false;
                    }
                    membersOf(name).delete(key);
                    host("write", { thing: name, name: key, value: value === undefined ? null : value });
                    return true;
                },
            }
        );
        things.set(name, proxy);
        return proxy;
    }

    function collection(lookup) {
        return new Proxy(
            {},
            {
                get(target, key) {
                    return typeof key === "string" ? lookup(key) : undefined;
                },
                set() {
                    return false;
                },
            }
        );
    }

    global.Things = collection((name) => {
        let seen = visible.get(name);
        if (seen === undefined) {
            seen = host("thing", { name: name });
            visible.set(name, seen);
        }
        return seen ? thingProxy(name) : undefined;
    });

    global.DataShapes = collection((name) => {
        const shape = host("dataShape", { name: name });
        if (shape === null) {
            return undefined;
        }
        return {
            name: name,
            CreateValues: function () {
                return new InfoTable(shape);
            },
        };
    });

    function namedEntity(collectionName, name, extra) {
        if (!host("entity", { collection: collectionName, name: name })) {
            return undefined;
        }
        const entity = { name: name };
        if (extra) {
            extra(entity);
        }
        return entity;
    }

    function definer(collectionName) {
        return collection((name) =>
            namedEntity(collectionName, name, (entity) => {
                entity.GetImplementingThings = function () {
                    return infoTable(host("implementing", { collection: collectionName, name: name }));
                };
            })
        );
    }

    global.ThingTemplates = definer("ThingTemplates");
    global.ThingShapes = definer("ThingShapes");
    global.Users = collection((name) => namedEntity("Users", name));
    global.Groups = collection((name) => namedEntity("Groups", name));

    function names(list) {
        const table = new InfoTable({ fieldDefinitions: { name: { name: "name", baseType: "STRING" } } });
        for (const name of list) {
            table.AddRow({ name: name });
        }
        return table;
    }

    const currentSessionInfo = {
        GetCurrentUser: function () {
            return host("session", null).user;
        },
        GetCurrentUserGroups: function () {
            return names(host("session", null).groups);
        },
        GetCurrentUserOrganizations: function () {
            return names(host("session", null).organizations);
        },
    };

    const infoTableFunctions = {
        CreateInfoTableFromDataShape: function (params) {
            const p = params || {};
            const shape = host("dataShape", { name: p.dataShapeName, required: true });
            return new InfoTable(shape, p.infoTableName);
        },
        CreateInfoTable: function (params) {
            return new InfoTable(null, params && params.infoTableName);
        },
    };

    // The `Create…` services of EntityServices: the entity is written when the outermost
    // service returns; a Thing created here may be enabled, disabled or restarted before that.
    const entityServices = {};
    for (const service of [
        "CreateThing",
        "CreateThingTemplate",
        "CreateThingShape",
        "CreateDataShape",
        "CreateUser",
        "CreateGroup",
        "CreateOrganization",
        "CreateProject",
        "CreateLocalizationTable",
    ]) {
        entityServices[service] = function (params) {
            const p = params || {};
            host("create", { service: service, params: p });
            if (service === "CreateThing") {
                visible.delete(String(p.name));
            }
        };
    }

    const runtimeLocalizationFunctions = {
        GetEffectiveToken: function (params) {
            return host("token", { token: (params || {}).token });
        },
        GetEffectiveTokenForLanguage: function (params) {
            const p = params || {};
            return host("token", { token: p.token, language: p.language === undefined ? null : p.language });
        },
    };

    global.Resources = collection((name) => {
        if (name === "InfoTableFunctions") {
            return infoTableFunctions;
        }
        if (name === "EntityServices") {
            return entityServices;
        }
        if (name === "RuntimeLocalizationFunctions") {
            return runtimeLocalizationFunctions;
        }
        if (name === "CurrentSessionInfo") {
            return currentSessionInfo;
        }
        throw new Error("the resource '" + name + "' is not available to scripts");
    });

    function log(level) {
        return function () {
            const message = Array.prototype.map.call(arguments, String).join(" ");
            host("log", { level: level, message: message });
        };
    }

    global.pause = function () {
        throw new ScriptError("pause() is refused: a script may not hold a server thread");
    };

    global.logger = {
        trace: log("debug"),
        debug: log("debug"),
        info: log("info"),
        warn: log("warn"),
        error: log("error"),
    };

    // Data properties of frozen prototypes that scripts commonly set on their own objects
    // become accessors whose setter defines the property on the object assigned to, so that
    // freezing the prototypes does not make `o.toString = …` fail silently.
    function keepOverridable(proto, key) {
        const d = getOwnPropertyDescriptor(proto, key);
        if (d === undefined || !("value" in d)) {
            return;
        }
        const value = d.value;
        defineProperty(proto, key, {
            get: function () {
                return value;
            },
            set: function (v) {
                if (this === proto || this === null || this === undefined) {
                    throw new TypeError("'" + String(key) + "' of a built-in prototype is read-only");
                }
                if (hasOwn.call(this, key)) {
                    this[key] = v;
                } else {
                    defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
                }
            },
            enumerable: d.enumerable,
            configurable: false,
        });
    }
    for (const key of ["constructor", "toString", "valueOf", "toLocaleString", "hasOwnProperty"]) {
        keepOverridable(Object.prototype, key);
    }
    for (const E of [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError]) {
        for (const key of ["constructor", "name", "message", "toString"]) {
            keepOverridable(E.prototype, key);
        }
    }
    keepOverridable(Array.prototype, "toString");
    keepOverridable(Function.prototype, "toString");

    // Freezes everything reachable from `roots` (own properties, accessors, prototypes) but
    // the global object itself.
    function freezeAll(roots) {
        const seen = new Set([global]);
        const stack = roots.slice();
        for (const key of ownKeys(global)) {
            const d = getOwnPropertyDescriptor(global, key);
            stack.push(d.value, d.get, d.set);
        }
        stack.push(getPrototypeOf(global));
        while (stack.length > 0) {
            const o = stack.pop();
            if ((typeof o !== "object" && typeof o !== "function") || o === null || seen.has(o)) {
                continue;
            }
            seen.add(o);
            for (const key of ownKeys(o)) {
                const d = getOwnPropertyDescriptor(o, key);
                stack.push(d.value, d.get, d.set);
            }
            stack.push(getPrototypeOf(o));
            Object.freeze(o);
        }
    }
    // The intrinsics no global names: iterators, generators, async functions.
    freezeAll([
        InfoTable,
        function* () {},
        async function () {},
        async function* () {},
        [][Symbol.iterator](),
        ""[Symbol.iterator](),
        new Map()[Symbol.iterator](),
        new Set()[Symbol.iterator](),
        /a/[Symbol.matchAll](""),
        (function* () {})(),
        (async function* () {})(),
    ]);

    // The global object as the API left it: every own property's descriptor and its prototype.
    const baseline = new Map();
    for (const key of ownKeys(global)) {
        baseline.set(key, getOwnPropertyDescriptor(global, key));
    }
    const baselineProto = getPrototypeOf(global);

    function sameDescriptor(a, b) {
        return (
            a.value === b.value &&
            a.get === b.get &&
            a.set === b.set &&
            a.writable === b.writable &&
            a.enumerable === b.enumerable &&
            a.configurable === b.configurable
        );
    }

    // Puts the global object back and drops what the call cached; whether it could.
    function reset() {
        things = new Map();
        visible = new Map();
        members = new Map();
        if (!Object.isExtensible(global) || getPrototypeOf(global) !== baselineProto) {
            return false;
        }
        for (const key of ownKeys(global)) {
            const before = baseline.get(key);
            if (before === undefined) {
                if (!Reflect.deleteProperty(global, key)) {
                    return false;
                }
                continue;
            }
            const now = getOwnPropertyDescriptor(global, key);
            if (!sameDescriptor(now, before) && !Reflect.defineProperty(global, key, before)) {
                return false;
            }
        }
        for (const key of baseline.keys()) {
            if (!hasOwn.call(global, key)) {
                if (!Reflect.defineProperty(global, key, baseline.get(key))) {
                    return false;
                }
            }
        }
        return true;
    }

    // The server's entry: runs the outermost plan and answers `{value}` as JSON text (the
    // server types it); `reset` after every call.
    return {
        main: function main(planJson) {
            const plan = parse(planJson);
            const snapshot = plan.snapshot || {};
            const known = membersOf(plan.thing);
            for (const key of Object.keys(snapshot)) {
                known.set(key, snapshot[key]);
            }
            return run(plan, true);
        },
        reset: reset,
    };
})(globalThis);
