import { describe, expect, it } from "vitest";
import { characterCount, identityKey, isValidEmail, normalizeEmail, normalizeUsername } from "../../src/domain/rules";
import { createUser, given, userCreated } from "./decider-spec";

const created = (username: string) => userCreated({ username, password_hash: "hash-of-correct-horse" });

describe("usernames are normalised and refused when they hide characters", () => {
  it.each([
    ["three zero-width spaces", "\u200B\u200B\u200B"],
    ["a NUL byte", "ad\u0000min"],
    ["a line break", "line1\nline2"],
    ["a right-to-left override", "admin\u202Etxt"],
    ["a zero-width space inside", "ad\u200Bmin"],
    ["a lone high surrogate", "ab\uD800cd"],
    ["a lone low surrogate", "ab\uDC00cd"],
    ["a private-use character", "adm\uE000in"],
    ["a byte-order mark inside", "ad\uFEFFmin"],
  ])("rejects %s", (_label, username) => {
    given()
      .when(createUser({ username }))
      .rejects({ code: "ValidationFailed", field: "username", details: { reason: "invisible_character" } });
  });

  it("stores the NFKC form: fullwidth letters become ASCII", () => {
    given()
      .when(createUser({ username: "ａｌｉｃｅ" }))
      .then(created("alice"));
  });

  it("counts characters as readers do, not UTF-16 units: an emoji and a letter are two", () => {
    expect("😀a".length).toBe(3);
    given()
      .when(createUser({ username: "😀a" }))
      .rejects({ code: "ValidationFailed", field: "username", details: { min_length: 3 } });
  });

  it("counts a letter with a combining accent as one character", () => {
    expect(characterCount("a\u0301\u0327b")).toBe(2);
    given()
      .when(createUser({ username: "x\u0301\u0327y" }))
      .rejects({ code: "ValidationFailed", field: "username" });
  });

  it("accepts three emoji, and scripts other than Latin", () => {
    given()
      .when(createUser({ username: "😀😀😀" }))
      .then(created("😀😀😀"));
    given()
      .when(createUser({ username: "Ольга" }))
      .then(created("Ольга"));
    given()
      .when(createUser({ username: "さくら" }))
      .then(created("さくら"));
  });

  it("rejects a lone surrogate or a control character in a name", () => {
    given()
      .when(createUser({ first_name: "Al\uD800ice" }))
      .rejects({ code: "ValidationFailed", field: "first_name" });
    given()
      .when(createUser({ last_name: "Lid\u0000dell" }))
      .rejects({ code: "ValidationFailed", field: "last_name" });
  });

  it("keeps a zero-width joiner in a name, which some scripts and emoji need", () => {
    given()
      .when(createUser({ first_name: "👩\u200D💻" }))
      .then(userCreated({ first_name: "👩\u200D💻", password_hash: "hash-of-correct-horse" }));
  });

  it("normalises before trimming, so an ideographic space is trimmed too", () => {
    expect(normalizeUsername("\u3000alice\u3000")).toBe("alice");
  });
});

describe("emails", () => {
  it.each([
    ["a NUL byte", "ali\u0000ce@example.com"],
    ["a zero-width space", "ali\u200Bce@example.com"],
    ["a lone surrogate", "ali\uD800ce@example.com"],
    ["a bidi override", "alice@exa\u202Emple.com"],
  ])("rejects %s", (_label, email) => {
    expect(isValidEmail(normalizeEmail(email))).toBe(false);
    given().when(createUser({ email })).rejects({ code: "ValidationFailed", field: "email" });
  });

  it("normalises with NFKC: a fullwidth address is the ASCII one", () => {
    expect(normalizeEmail("ａｌｉｃｅ@ＥＸＡＭＰＬＥ.com")).toBe("alice@example.com");
  });
});

describe("the uniqueness key", () => {
  const key = (name: string) => identityKey("username", name);

  it("is the same for look-alikes of admin", () => {
    for (const lookalike of ["аdmin" /* Cyrillic а */, "ａｄｍｉｎ", "ADMIN", "Admin", "adrnin", "ɑdmin"]) {
      expect(key(lookalike), JSON.stringify(lookalike)).toBe(key("admin"));
    }
  });

  it("is the same for Cyrillic and Greek look-alikes of Latin words", () => {
    expect(key("раураl")).toBe(key("paypal"));
    expect(key("gοοgle" /* Greek omicrons */)).toBe(key("google"));
    expect(key("ΑΒΕ" /* Greek capitals */)).toBe(key("abe"));
    expect(key("AIice" /* capital I */)).toBe(key("alice"));
    expect(key("o0o")).toBe(key("ooo"));
    expect(key("l1I")).toBe(key("lll"));
  });

  it("tells different names apart", () => {
    expect(key("alice")).not.toBe(key("alicia"));
    expect(key("Ольга")).not.toBe(key("olga"));
    expect(key("さくら")).not.toBe(key("さくろ"));
  });

  it("is case-insensitive but not confusable-folding for emails: they are different mailboxes", () => {
    expect(identityKey("email", "Alice@Example.com")).toBe(identityKey("email", "alice@example.com"));
    expect(identityKey("email", "rn@example.com")).not.toBe(identityKey("email", "m@example.com"));
  });
});
