import { useEffect, useRef, useState } from "hono/jsx/dom";
import { api } from "../api";
import { ErrorNotice } from "../components";

/**
 * "Make a test from this": the stream as the admin export gives it, turned into the domain test
 * the repo's export-to-test helper writes (src/domain/export-to-test.ts, the same code the tests use).
 */
export function MakeTest({ userId, revision, onClose }: { userId: string; revision: number; onClose: () => void }) {
  const [code, setCode] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [copied, setCopied] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    let current = true;
    setCode(null);
    // Loaded on demand: the writer parses with the domain's zod schemas, which the rest of the console does not need.
    Promise.all([api<string>(`/admin/users/${userId}/stream`, { text: true }), import("../../domain/export-to-test")])
      .then(([ndjson, { writeTestFromExport }]) => current && setCode(writeTestFromExport(ndjson, revision)))
      .catch((caught) => current && setError(caught));
    heading.current?.focus();
    return () => {
      current = false;
    };
  }, [userId, revision]);

  const copy = async () => {
    if (!code) return;
    await navigator.clipboard.writeText(code);
    setCopied(true);
  };

  return (
    <section class="make-test" aria-labelledby="make-test-heading">
      <h3 id="make-test-heading" tabIndex={-1} ref={heading}>
        A test from revision {revision}
      </h3>
      <p>
        Save as <code>test/domain/&lt;incident&gt;.test.ts</code> and run <code>npx vitest run</code> on it.
      </p>
      <ErrorNotice error={error} />
      <pre class="code" tabIndex={0} aria-label="Test code">
        <code>{code ?? "Writing the test…"}</code>
      </pre>
      <div class="row">
        <button type="button" onClick={() => void copy()} disabled={!code}>
          {copied ? "Copied" : "Copy"}
        </button>
        <button type="button" class="secondary" onClick={onClose}>
          Close
        </button>
      </div>
    </section>
  );
}
