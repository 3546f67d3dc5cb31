// A Kubernetes Secret volume as the kubelet's AtomicWriter lays it out:
//
//   DIR/..2026_01_01_00_00_00.000000001/cert.pem   the data, one directory per version
//   DIR/..data -> ..2026_...                       swapped by renaming ..data_tmp over it
//   DIR/cert.pem -> ..data/cert.pem                user-visible names, created once
//
// so a reader of DIR/cert.pem sees the whole old version or the whole new one,
// and no event ever fires on DIR/cert.pem itself.

import fs from 'node:fs';
import path from 'node:path';

export interface SecretVolume {
  readonly dir: string;
  /** Publishes a new version holding exactly these files. */
  update(files: Readonly<Record<string, string>>): void;
}

export function createSecretVolume(dir: string): SecretVolume {
  fs.mkdirSync(dir, { recursive: true });
  let version = 0;
  let current: string | undefined;
  let visible = new Set<string>();
  return {
    dir,
    update(files) {
      version++;
      const stamp = new Date().toISOString().replace(/[-:T]/g, '_').replace('Z', '');
      const versionDir = `..${stamp}${String(version).padStart(9, '0')}`;
      fs.mkdirSync(path.join(dir, versionDir), { mode: 0o755 });
      for (const [name, content] of Object.entries(files))
        fs.writeFileSync(path.join(dir, versionDir, name), content, { mode: 0o644 });
      // The swap: one rename, atomic for every reader.
      fs.symlinkSync(versionDir, path.join(dir, '..data_tmp'));
      fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      for (const name of Object.keys(files)) {
        if (!visible.has(name)) fs.symlinkSync(path.join('..data', name), path.join(dir, name));
      }
      for (const name of visible) {
        if (!(name in files)) fs.rmSync(path.join(dir, name));
      }
      visible = new Set(Object.keys(files));
      if (current) fs.rmSync(path.join(dir, current), { recursive: true });
      current = versionDir;
    },
  };
}
