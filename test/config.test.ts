import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { alertConfig, config, parseAlertConfig, parseConfig, parseRefusalConfig, refusalConfig } from "../src/config";

const valid = {
  PASSWORD_MIN_LENGTH: "8",
  PASSWORD_HASH_ITERATIONS: "100000",
  READ_YOUR_WRITES_WAIT_MS: "2000",
  SNAPSHOT_EVERY: "100",
  REBUILD_USERS_PER_STEP: "200",
  MAIL_FROM: "welcome@users.example",
  JWT_SECRET: "a-secret-of-at-least-16-characters",
  ADMIN_BOOTSTRAP_TOKEN: "bootstrap",
};

describe("configuration", () => {
  it("parses the [vars] strings into numbers, once per environment", () => {
    expect(parseConfig(valid)).toEqual({
      PASSWORD_MIN_LENGTH: 8,
      PASSWORD_HASH_ITERATIONS: 100_000,
      READ_YOUR_WRITES_WAIT_MS: 2000,
      SNAPSHOT_EVERY: 100,
      REBUILD_USERS_PER_STEP: 200,
      IDENTITY_SHARD_COUNT: 16,
      DIRECTORY_SHARDS: 1,
      DELETED_USER_RETENTION_DAYS: 0,
      MAIL_FROM: "welcome@users.example",
      JWT_SECRET: valid.JWT_SECRET,
      ADMIN_BOOTSTRAP_TOKEN: "bootstrap",
    });
    expect(parseConfig({ ...valid, SNAPSHOT_EVERY: 50 }).SNAPSHOT_EVERY).toBe(50);
    expect(parseConfig({ ...valid, DELETED_USER_RETENTION_DAYS: "30" }).DELETED_USER_RETENTION_DAYS).toBe(30);
    expect(config(env)).toBe(config(env));
  });

  it.each([
    ["READ_YOUR_WRITES_WAIT_MS", "soon"],
    ["PASSWORD_MIN_LENGTH", "eight"],
    ["PASSWORD_MIN_LENGTH", "0"],
    ["SNAPSHOT_EVERY", "0"],
    ["SNAPSHOT_EVERY", "1.5"],
    ["REBUILD_USERS_PER_STEP", ""],
    ["IDENTITY_SHARD_COUNT", "0"],
    ["DIRECTORY_SHARDS", "0"],
    ["DIRECTORY_SHARDS", "257"],
    ["IDENTITY_SHARD_COUNT", "1025"],
    ["READ_YOUR_WRITES_WAIT_MS", ""],
    ["READ_YOUR_WRITES_WAIT_MS", "1e3"],
    ["PASSWORD_HASH_ITERATIONS", "100001"],
    ["DELETED_USER_RETENTION_DAYS", "-1"],
    ["DELETED_USER_RETENTION_DAYS", "a month"],
    ["MAIL_FROM", "welcome"],
    ["MAIL_FROM", ""],
  ])("refuses %s=%j, naming it", (name, value) => {
    expect(() => parseConfig({ ...valid, [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name}:`));
  });

  it("refuses a missing or short JWT_SECRET", () => {
    const { JWT_SECRET: _missing, ...rest } = valid;
    expect(() => parseConfig(rest)).toThrow(/JWT_SECRET: missing/);
    expect(() => parseConfig({ ...valid, JWT_SECRET: "short" })).toThrow(/JWT_SECRET:/);
  });

  it("names every problem at once", () => {
    expect(() => parseConfig({ ...valid, SNAPSHOT_EVERY: "x", PASSWORD_MIN_LENGTH: "y" })).toThrow(
      /PASSWORD_MIN_LENGTH: .*; SNAPSHOT_EVERY: /,
    );
  });

  it("treats an empty ADMIN_BOOTSTRAP_TOKEN as unset: the bootstrap route is then absent", () => {
    expect(parseConfig({ ...valid, ADMIN_BOOTSTRAP_TOKEN: "" }).ADMIN_BOOTSTRAP_TOKEN).toBeUndefined();
    const { ADMIN_BOOTSTRAP_TOKEN: _unset, ...rest } = valid;
    expect(parseConfig(rest).ADMIN_BOOTSTRAP_TOKEN).toBeUndefined();
  });
});

describe("alert thresholds", () => {
  it("default when unset and parse the [vars] strings", () => {
    expect(parseAlertConfig({})).toEqual({
      ALERT_PROJECTION_LAG_SECONDS: 600,
      ALERT_SUBSCRIPTION_FAILING_SECONDS: 3600,
      ALERT_SUBSCRIPTION_FAILING_ATTEMPTS: 5,
    });
    expect(
      parseAlertConfig({
        ALERT_PROJECTION_LAG_SECONDS: "30",
        ALERT_SUBSCRIPTION_FAILING_SECONDS: "604800",
        ALERT_SUBSCRIPTION_FAILING_ATTEMPTS: "1",
      }),
    ).toEqual({
      ALERT_PROJECTION_LAG_SECONDS: 30,
      ALERT_SUBSCRIPTION_FAILING_SECONDS: 604_800,
      ALERT_SUBSCRIPTION_FAILING_ATTEMPTS: 1,
    });
    expect(alertConfig(env)).toBe(alertConfig(env));
  });

  it.each([
    ["ALERT_PROJECTION_LAG_SECONDS", "0"],
    ["ALERT_PROJECTION_LAG_SECONDS", "604801"],
    ["ALERT_PROJECTION_LAG_SECONDS", "ten"],
    ["ALERT_SUBSCRIPTION_FAILING_SECONDS", "0"],
    ["ALERT_SUBSCRIPTION_FAILING_SECONDS", "1.5"],
    ["ALERT_SUBSCRIPTION_FAILING_ATTEMPTS", "0"],
    ["ALERT_SUBSCRIPTION_FAILING_ATTEMPTS", "101"],
    ["ALERT_SUBSCRIPTION_FAILING_ATTEMPTS", ""],
  ])("refuses %s=%j, naming it", (name, value) => {
    expect(() => parseAlertConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name}:`));
  });
});

describe("refusals journal", () => {
  it("defaults when unset and parses the [vars] strings", () => {
    expect(parseRefusalConfig({})).toEqual({
      REFUSALS_PER_ACTOR_PER_HOUR: 100,
      REFUSALS_PER_TARGET_PER_HOUR: 100,
      REFUSALS_RETENTION_DAYS: 30,
    });
    expect(
      parseRefusalConfig({
        REFUSALS_PER_ACTOR_PER_HOUR: "5",
        REFUSALS_PER_TARGET_PER_HOUR: "7",
        REFUSALS_RETENTION_DAYS: "1",
      }),
    ).toEqual({ REFUSALS_PER_ACTOR_PER_HOUR: 5, REFUSALS_PER_TARGET_PER_HOUR: 7, REFUSALS_RETENTION_DAYS: 1 });
    expect(refusalConfig(env)).toBe(refusalConfig(env));
  });

  it.each([
    ["REFUSALS_PER_ACTOR_PER_HOUR", "0"],
    ["REFUSALS_PER_ACTOR_PER_HOUR", "many"],
    ["REFUSALS_PER_TARGET_PER_HOUR", "100001"],
    ["REFUSALS_RETENTION_DAYS", "0"],
    ["REFUSALS_RETENTION_DAYS", "1.5"],
  ])("refuses %s=%j, naming it", (name, value) => {
    expect(() => parseRefusalConfig({ [name]: value })).toThrow(new RegExp(`^Invalid configuration: ${name}:`));
  });
});
