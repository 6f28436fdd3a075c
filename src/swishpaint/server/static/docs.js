// The API docs from /openapi.json, rendered here: FastAPI's Swagger UI would load its scripts from a CDN.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function typeOf(schema, spec) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(s, spec)).join(" | ");
  return schema.format === "binary" ? "file" : (schema.type || "");
}

function resolve(schema, spec) {
  if (!schema || !schema.$ref) return schema;
  return schema.$ref.split("/").slice(1).reduce((node, key) => node[key], spec);
}

function fieldsTable(rows) {
  const table = el("table");
  const head = el("tr");
  for (const h of ["name", "in", "type", "default", "description"]) head.appendChild(el("th", h));
  table.appendChild(head);
  for (const row of rows) {
    const tr = el("tr");
    for (const cell of row) tr.appendChild(el("td", cell === undefined ? "" : String(cell)));
    table.appendChild(tr);
  }
  return table;
}

async function render() {
  const main = document.getElementById("api");
  const spec = await (await fetch("/openapi.json")).json();
  main.replaceChildren(el("p", spec.info.description || ""), el("p", `version ${spec.info.version}`));
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const section = el("section", undefined, "endpoint");
      section.appendChild(el("h2", `${method.toUpperCase()} ${path}`));
      if (op.summary) section.appendChild(el("p", op.summary));
      const rows = (op.parameters || []).map((p) => [p.name, p.in, typeOf(p.schema, spec), p.schema && p.schema.default,
                                                     p.description]);
      const body = op.requestBody && Object.entries(op.requestBody.content)[0];
      if (body) {
        const schema = resolve(body[1].schema, spec);
        for (const [name, field] of Object.entries(schema.properties || {})) {
          rows.push([name + ((schema.required || []).includes(name) ? " *" : ""), body[0], typeOf(field, spec),
                     field.default, field.description]);
        }
      }
      if (rows.length) section.appendChild(fieldsTable(rows));
      const codes = Object.entries(op.responses || {}).map(([code, r]) => `${code} ${r.description}`);
      section.appendChild(el("p", "responses: " + codes.join(" · "), "responses"));
      main.appendChild(section);
    }
  }
}

render().catch((e) => { document.getElementById("api").textContent = `Could not load /openapi.json: ${e.message}`; });
