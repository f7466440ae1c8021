// The script API of Ironworx, evaluated once in every fresh context before a service runs
// (server/src/script/engine.rs). It reaches the server only through the two native functions
// it takes from the global object and removes from it: `__ironworxHost(op, json)` answers one
// host operation as JSON ({"v": value} or {"e": message, "k": failure}), and
// `__ironworxCompile(source, file)` compiles a wrapped service body into a function. Every
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
    // field name to its definition.
    class InfoTable {
        constructor(shape) {
            const fields = (shape && (shape.fieldDefinitions || shape.fields)) || {};
            this.dataShape = { fieldDefinitions: fields, fields: fields };
            this.rows = [];
            this.name = (shape && shape.name) || "";
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

    const compiled = {};

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

    // `outermost`: the server keeps the typed result itself, nothing comes back here.
    function run(plan, outermost) {
        let fn = compiled[plan.file];
        if (fn === undefined) {
            fn = compile(plan.source, plan.file);
            compiled[plan.file] = fn;
        }
        const args = {};
        for (const p of plan.params) {
            args[p.name] = fromWire(p.value, p.baseType);
        }
        const value = fn(thingProxy(plan.thing), args);
        const typed = host("result", { value: value === undefined ? null : value });
        return outermost ? undefined : fromWire(typed, plan.resultType);
    }

    const things = {};

    function thingProxy(name) {
        if (things[name] !== undefined) {
            return things[name];
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
                    const member = host("member", { thing: name, name: key });
                    if (member === null) {
                        return undefined;
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
                    host("write", { thing: name, name: key, value: value === undefined ? null : value });
                    return true;
                },
            }
        );
        things[name] = proxy;
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

    global.Things = collection((name) => (host("thing", { name: name }) ? thingProxy(name) : undefined));

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

    const infoTableFunctions = {
        CreateInfoTableFromDataShape: function (params) {
            const p = params || {};
            const shape = host("dataShape", { name: p.dataShapeName, required: true });
            const table = new InfoTable(shape);
            table.name = p.infoTableName || "";
            return table;
        },
        CreateInfoTable: function (params) {
            const table = new InfoTable(null);
            table.name = (params && params.infoTableName) || "";
            return table;
        },
    };

    global.Resources = collection((name) => {
        if (name === "InfoTableFunctions") {
            return infoTableFunctions;
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

    // The server's entry: runs the outermost plan (its result goes to the server).
    return function main(planJson) {
        const plan = parse(planJson);
        try {
            run(plan, true);
        } finally {
            host("leave", null);
        }
    };
})(globalThis);
