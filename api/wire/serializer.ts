/**
 * How every response body is written: `JSON.stringify`, which writes the wire shapes' exact
 * numbers (`JSON.rawJSON`) digit for digit. The routes' response schemas are for /docs and the
 * tests; the `toWire…` functions' types already hold each body to its schema, so nothing is
 * validated again per response (zod's serializer would also refuse raw JSON numbers).
 */
import type { FastifySerializerCompiler } from 'fastify/types/schema.js';

export const wireSerializerCompiler: FastifySerializerCompiler<unknown> = () => (data) =>
  JSON.stringify(data);
