import { useCallback, useEffect, useState } from "react";
import { useSearchParams } from "react-router";

/** Loads `fn()` when `deps` change; `reload()` loads again. Errors are kept, not thrown. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    fn().then(
      (d) => { if (live) { setData(d); setError(undefined); setLoading(false); } },
      (e) => { if (live) { setError(String(e?.message ?? e)); setLoading(false); } },
    );
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, setData };
}

/** One URL query parameter as state (the URL restores every view). */
export function useQueryParam(name: string, fallback = ""): [string, (v: string) => void] {
  const [params, setParams] = useSearchParams();
  const value = params.get(name) ?? fallback;
  const set = useCallback(
    (v: string) =>
      setParams((prev) => {
        const next = new URLSearchParams(prev);
        if (v === "" || v === fallback) next.delete(name);
        else next.set(name, v);
        return next;
      }, { replace: true }),
    [name, fallback, setParams],
  );
  return [value, set];
}

/**
 * Sets several URL query parameters in one navigation ("" removes one). Two separate
 * `useQueryParam` setters in one event would overwrite each other: react-router's updater
 * sees the location of the render, not the previous update.
 */
export function useQueryUpdate(): (patch: Record<string, string>) => void {
  const [, setParams] = useSearchParams();
  return useCallback(
    (patch: Record<string, string>) =>
      setParams((prev) => {
        const next = new URLSearchParams(prev);
        for (const [k, v] of Object.entries(patch)) {
          if (v === "") next.delete(k);
          else next.set(k, v);
        }
        return next;
      }, { replace: true }),
    [setParams],
  );
}
