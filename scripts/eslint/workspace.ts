// scripts/eslint/workspace.ts: the workspace packages (libs/* and apps/*) as the layering
// rules see them: name, folder, kind and the workspace packages each one declares. Used by the
// import-boundaries lint rule and by scripts/check-layers.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type PackageKind = 'lib' | 'app';

export interface WorkspacePackage {
  name: string;
  /** Path from the workspace root, e.g. `libs/store`. */
  dir: string;
  kind: PackageKind;
  /** Every package named in `dependencies`, workspace or not. */
  dependencies: Set<string>;
  devDependencies: Set<string>;
}

export interface Workspace {
  root: string;
  byName: Map<string, WorkspacePackage>;
  byDir: Map<string, WorkspacePackage>;
}

const kindOfTopDir: Record<string, PackageKind> = { libs: 'lib', apps: 'app' };

/** readWorkspace reads the package.json of every libs/* and apps/* folder under root. */
export function readWorkspace(root: string): Workspace {
  const workspace: Workspace = { root, byName: new Map(), byDir: new Map() };
  for (const [top, kind] of Object.entries(kindOfTopDir)) {
    if (!existsSync(join(root, top))) continue;
    for (const entry of readdirSync(join(root, top), { withFileTypes: true })) {
      const dir = `${top}/${entry.name}`;
      const manifestPath = join(root, dir, 'package.json');
      if (!entry.isDirectory() || !existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
      const pkg: WorkspacePackage = {
        name: manifest.name,
        dir,
        kind,
        dependencies: new Set(Object.keys(manifest.dependencies ?? {})),
        devDependencies: new Set(Object.keys(manifest.devDependencies ?? {})),
      };
      workspace.byName.set(pkg.name, pkg);
      workspace.byDir.set(dir, pkg);
    }
  }
  return workspace;
}

const workspaceOfDir = new Map<string, Workspace | undefined>();

/**
 * workspaceFor returns the workspace whose root (the nearest folder up from dir with a
 * package.json that has "workspaces") holds dir, or undefined. The answer for each folder is
 * kept for the life of the process, so package.json files are read once per lint run.
 */
export function workspaceFor(dir: string): Workspace | undefined {
  if (workspaceOfDir.has(dir)) return workspaceOfDir.get(dir);
  const manifestPath = join(dir, 'package.json');
  let workspace: Workspace | undefined;
  if (existsSync(manifestPath) && 'workspaces' in JSON.parse(readFileSync(manifestPath, 'utf8'))) {
    workspace = readWorkspace(dir);
  } else if (dirname(dir) !== dir) {
    workspace = workspaceFor(dirname(dir));
  }
  workspaceOfDir.set(dir, workspace);
  return workspace;
}
