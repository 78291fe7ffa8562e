import { useEffect, useState } from "react";
import { ArtifactSource, FileInfo } from "../api";

const TEXT = /\.(txt|log|json|ya?ml|md|py|csv|tsv|html?|cfg|ini|toml|xml|sh|r|sql)$|(^|\/)(MLmodel|requirements\.txt|conda\.yaml|python_env\.yaml)$/i;
const IMAGE = /\.(png|jpe?g|gif|svg|webp|bmp)$/i;
const PREVIEW_LIMIT = 2 * 1024 * 1024;

/** Splits CSV text into rows (quoted fields with commas, doubled quotes and newlines). */
export function parseCsv(text: string, sep = ","): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); rows.push(row); row = []; field = "";
    } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

function Preview({ source, file }: { source: ArtifactSource; file: FileInfo }) {
  const url = source.url(file.path);
  const [text, setText] = useState<string>();
  const [error, setError] = useState<string>();
  const isText = TEXT.test(file.path);
  const tooBig = (file.file_size ?? 0) > PREVIEW_LIMIT;
  useEffect(() => {
    setText(undefined);
    setError(undefined);
    if (!isText || tooBig) return;
    let live = true;
    fetch(url)
      .then(async (r) => { if (!r.ok) throw new Error(`${r.status}: ${(await r.text()).slice(0, 300)}`); return r.text(); })
      .then((t) => live && setText(t), (e) => live && setError(e.message));
    return () => { live = false; };
  }, [url, isText, tooBig]);

  const name = file.path.split("/").pop() ?? file.path;
  let body: React.ReactNode = <p className="muted">No preview for this file type.</p>;
  if (tooBig) body = <p className="muted">Too large to preview ({file.file_size} bytes).</p>;
  else if (IMAGE.test(file.path)) body = <img className="artifact-image" src={url} alt={name} />;
  else if (error) body = <p className="error">{error}</p>;
  else if (isText && text === undefined) body = <p className="muted">Loading…</p>;
  else if (text !== undefined && /\.(csv|tsv)$/i.test(file.path)) {
    const rows = parseCsv(text, /\.tsv$/i.test(file.path) ? "\t" : ",").slice(0, 501);
    body = (
      <div className="scroll-x">
        <table className="grid csv" data-testid="csv-preview">
          <thead><tr>{rows[0]?.map((h, i) => <th key={i}>{h}</th>)}</tr></thead>
          <tbody>{rows.slice(1).map((r, i) => <tr key={i}>{r.map((c, j) => <td key={j}>{c}</td>)}</tr>)}</tbody>
        </table>
      </div>
    );
  } else if (text !== undefined && /\.html?$/i.test(file.path)) {
    // Sandboxed: no scripts, no same-origin access to the API.
    body = <iframe className="html-preview" sandbox="" srcDoc={text} title={name} />;
  } else if (text !== undefined && /\.json$/i.test(file.path)) {
    let pretty = text;
    try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch { /* shown as is */ }
    body = <pre className="text-preview" data-testid="text-preview">{pretty}</pre>;
  } else if (text !== undefined) {
    body = <pre className="text-preview" data-testid="text-preview">{text}</pre>;
  }
  return (
    <div className="artifact-preview">
      <div className="toolbar">
        <strong className="mono">{file.path}</strong>
        {file.file_size !== undefined && <span className="muted">{file.file_size} bytes</span>}
        <a href={url} download={name}>Download</a>
      </div>
      {body}
    </div>
  );
}

function Dir({ source, path, depth, selected, onSelect }: {
  source: ArtifactSource; path: string; depth: number; selected?: string; onSelect: (f: FileInfo) => void;
}) {
  const [files, setFiles] = useState<FileInfo[]>();
  const [error, setError] = useState<string>();
  const [open, setOpen] = useState<Set<string>>(() => new Set(selected ? ancestors(selected) : []));
  useEffect(() => {
    let live = true;
    setFiles(undefined);
    setError(undefined);
    source.list(path).then((f) => live && setFiles(f), (e) => live && setError(e.message));
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [source.key, path]);
  if (error) return <p className="error">{error}</p>;
  if (!files) return <p className="muted">Loading…</p>;
  if (!files.length && depth === 0) return <p className="muted">No artifacts.</p>;
  const sorted = [...files].sort((a, b) => Number(!!b.is_dir) - Number(!!a.is_dir) || a.path.localeCompare(b.path));
  return (
    <ul className="tree">
      {sorted.map((f) => (
        <li key={f.path}>
          {f.is_dir ? (
            <>
              <button className="tree-item" style={{ paddingLeft: depth * 14 }} aria-expanded={open.has(f.path)}
                onClick={() => { const n = new Set(open); if (n.has(f.path)) n.delete(f.path); else n.add(f.path); setOpen(n); }}>
                {open.has(f.path) ? "▾" : "▸"} {f.path.split("/").pop()}/
              </button>
              {open.has(f.path) && <Dir source={source} path={f.path} depth={depth + 1} selected={selected} onSelect={onSelect} />}
            </>
          ) : (
            <button className={`tree-item ${selected === f.path ? "active" : ""}`} style={{ paddingLeft: depth * 14 + 12 }} onClick={() => onSelect(f)}>
              {f.path.split("/").pop()}
            </button>
          )}
        </li>
      ))}
    </ul>
  );
}

function ancestors(path: string): string[] {
  const parts = path.split("/");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
}

/**
 * The artifact tree of a run or a logged model (`source`) with a preview of the selected
 * file (`path` in the URL).
 */
export function ArtifactBrowser({ source, path, onPath }: { source: ArtifactSource; path: string; onPath: (p: string) => void }) {
  const [file, setFile] = useState<FileInfo | undefined>(path ? { path } : undefined);
  useEffect(() => {
    setFile((f) => (f?.path === path ? f : path ? { path } : undefined));
  }, [path]);
  return (
    <div className="artifacts" data-testid="artifacts">
      <div className="artifact-tree">
        <Dir key={source.key} source={source} path="" depth={0} selected={path} onSelect={(f) => { setFile(f); onPath(f.path); }} />
      </div>
      {file ? <Preview source={source} file={file} /> : <p className="muted artifact-preview">Select a file to preview it.</p>}
    </div>
  );
}
