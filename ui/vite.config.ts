import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Relative asset URLs: the server injects <base href="{static prefix}/"> into index.html,
// so the same build works at "/" and behind `--static-prefix`.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npm run dev` against a local `ferroflow server` on :5000.
    proxy: {
      "/ajax-api": "http://127.0.0.1:5000",
      "/api": "http://127.0.0.1:5000",
      "/get-artifact": "http://127.0.0.1:5000",
      "/model-versions/get-artifact": "http://127.0.0.1:5000",
    },
  },
});
