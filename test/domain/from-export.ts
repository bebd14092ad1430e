// Here too because the tests "make a test from this" writes import it from their own folder.
export * from "../../src/domain/from-export";
