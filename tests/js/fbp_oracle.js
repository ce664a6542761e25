#!/usr/bin/env node
// Reference oracle for flowpy's .fbp parser tests.
//
// Parses every .fbp file named on the command line with the npm `fbp`
// package (the reference parser) in its default, case-insensitive mode and
// prints one JSON object mapping each path, as given, to the parsed graph or
// to {"error": message}. Syntax errors also carry the 1-based "line" and
// "column" the reference reports, so the tests can compare error positions.
'use strict';

const fs = require('fs');
const fbp = require('fbp');

const results = {};
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, 'utf8');
  try {
    results[file] = fbp.parse(text, { caseSensitive: false });
  } catch (err) {
    const entry = { error: String(err.message) };
    if (err.location) {
      entry.line = err.location.start.line;
      entry.column = err.location.start.column;
    }
    results[file] = entry;
  }
}
process.stdout.write(JSON.stringify(results) + '\n');
