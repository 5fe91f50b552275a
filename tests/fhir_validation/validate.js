#!/usr/bin/env node
// Validates FHIR R4 JSON resources with FHIR.js (npm "fhir" 4.x, R4 4.0.1 definitions).
// Input: one resource per line (NDJSON) on stdin.
// Output: one JSON object per input line on stdout:
//   {"index": n, "resourceType": "...", "id": "...", "valid": bool, "messages": [...]}
// Usage: node validate.js <node_modules folder that holds "fhir">
"use strict";

const path = require("path");
const readline = require("readline");

const modules = process.argv[2] || path.join(__dirname, "node_modules");
const { Fhir } = require(path.join(modules, "fhir"));
const fhir = new Fhir();

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let index = 0;
input.on("line", (line) => {
  if (!line.trim()) {
    return;
  }
  const n = index++;
  let resource;
  try {
    resource = JSON.parse(line);
  } catch (err) {
    process.stdout.write(
      JSON.stringify({ index: n, valid: false, messages: [{ severity: "fatal", message: "not JSON" }] }) + "\n"
    );
    return;
  }
  // errorOnUnexpected: an element unknown to R4 is an error, not a warning.
  const result = fhir.validate(resource, { errorOnUnexpected: true });
  process.stdout.write(
    JSON.stringify({
      index: n,
      resourceType: resource.resourceType,
      id: resource.id,
      valid: result.valid,
      messages: result.messages,
    }) + "\n"
  );
});
