import { describe, expect, it } from "vitest";
import { asksForVersion, invokedCommand } from "./invoked-command.js";

describe("invokedCommand", () => {
  it("is the first word after the global options", () => {
    expect(invokedCommand(["verify", "b.json"])).toBe("verify");
    expect(invokedCommand(["--json", "verify", "b.json", "--key", "k"])).toBe("verify");
    expect(invokedCommand(["--local", "--json", "tenant", "list"])).toBe("tenant");
    expect(invokedCommand(["--url=http://x", "verify", "b.json"])).toBe("verify");
  });

  it("skips the value of --url, even when it reads like a command", () => {
    expect(invokedCommand(["--url", "verify", "serve"])).toBe("serve");
    expect(invokedCommand(["--url", "http://x", "verify", "b.json"])).toBe("verify");
  });

  it("is undefined for help, the version, an unknown option or no command", () => {
    expect(invokedCommand([])).toBeUndefined();
    expect(invokedCommand(["--help"])).toBeUndefined();
    expect(invokedCommand(["-V"])).toBeUndefined();
    expect(invokedCommand(["--json", "--bogus", "verify"])).toBeUndefined();
    expect(invokedCommand(["--url"])).toBeUndefined();
  });

  it("asksForVersion: -V or --version after the global options, nothing else (issue 26, defect 5: --version loaded every command group)", () => {
    expect(asksForVersion(["--version"])).toBe(true);
    expect(asksForVersion(["-V"])).toBe(true);
    expect(asksForVersion(["--json", "--url", "http://x", "--version"])).toBe(true);
    expect(asksForVersion([])).toBe(false);
    expect(asksForVersion(["--help"])).toBe(false);
    expect(asksForVersion(["tenant", "--version"])).toBe(false);
    expect(asksForVersion(["--url", "--version"])).toBe(false);
  });
});
