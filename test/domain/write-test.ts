// The writer lives in src (the console runs it); the tests it writes name this path.
export * from "../../src/domain/export-to-test";
