import { useCallback, useEffect, useRef, useState } from "react";
import { useSearchParams } from "react-router";

/**
 * Loads `fn()` when `deps` change; `reload()` loads again. Errors are kept, not thrown.
 * `refresh()` loads again quietly: the old data stays shown and `loading` stays false
 * (live updates must not blank the page).
 */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const [settled, setSettled] = useState(0);
  const quiet = useRef(false);
  useEffect(() => {
    let live = true;
    if (!quiet.current) setLoading(true);
    quiet.current = false;
    fn().then(
      (d) => { if (live) { setData(d); setError(undefined); setLoading(false); setSettled((n) => n + 1); } },
      (e) => { if (live) { setError(String(e?.message ?? e)); setLoading(false); setSettled((n) => n + 1); } },
    );
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const refresh = useCallback(() => { quiet.current = true; setTick((t) => t + 1); }, []);
  return { data, error, loading, reload, refresh, setData, settled };
}

/**
 * Live updates: while `active`, calls `poll()` again after each answer (`answer` changes
 * e.g. useLoad's `settled`, on every answer, data or error), waiting `min` ms, then 1.5x longer each time the
 * answer's `signature` stays the same, up to `max`; a changed signature starts over at `min`.
 * Stops as soon as `active` is false (nothing RUNNING any more) and while the tab is hidden.
 */
export function usePoll(active: boolean, poll: () => void, answer: unknown, signature: string, min = 1500, max = 30000) {
  const delay = useRef(min);
  const last = useRef(signature);
  useEffect(() => {
    if (!active) { delay.current = min; return; }
    if (signature !== last.current) { last.current = signature; delay.current = min; }
    const wait = delay.current;
    delay.current = Math.min(max, delay.current * 1.5);
    let t: ReturnType<typeof setTimeout> | undefined;
    const fire = () => {
      if (document.hidden) { t = setTimeout(fire, wait); return; }
      poll();
    };
    t = setTimeout(fire, wait);
    return () => clearTimeout(t);
  }, [active, answer, signature, poll, min, max]);
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
