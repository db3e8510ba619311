/// <reference lib="dom" />
import type { EntryRow, ImageRow } from '../images-view.ts';
import { answer } from './api.ts';

/*
 * The Images page's calls (cli/monitor/image-routes.ts). Names and paths
 * travel as JSON strings and come back as text nodes: nothing is parsed as markup.
 */

export interface DirectoryPage {
  backupId: string;
  path: string;
  entries: EntryRow[];
  total: number;
  offset: number;
  limit: number;
}

export interface SearchAnswer {
  name: string;
  match: 'glob' | 'substring';
  imagesSearched: number;
  truncated: boolean;
  hits: (EntryRow & { backupId: string; createdAt: string })[];
}

const part = encodeURIComponent;

export async function fetchImages(client: string): Promise<{ clients: string[]; images: ImageRow[] }> {
  return answer(await fetch(`/api/images${client ? `?client=${part(client)}` : ''}`));
}

export async function fetchDirectory(backupId: string, path: string, offset: number): Promise<DirectoryPage> {
  return answer(await fetch(`/api/images/${part(backupId)}/entries?path=${part(path)}&offset=${offset}`));
}

export async function searchName(client: string, name: string): Promise<SearchAnswer> {
  return answer(await fetch(`/api/clients/${part(client)}/search?name=${part(name)}`));
}

export async function startRestore(backupId: string, body: { paths: string[]; targetDir: string; existing: string }): Promise<{ jobId: number }> {
  return answer(await fetch(`/api/images/${part(backupId)}/restore`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }));
}

export interface ClientTreePage extends DirectoryPage {
  client: string;
  at: string;
  /** The images the view shows (with multiple data streams, one per stream), newest first. */
  images: string[];
}

export async function fetchClientTree(client: string, path: string, at: string, offset: number): Promise<ClientTreePage> {
  return answer(await fetch(`/api/clients/${part(client)}/entries?path=${part(path)}&offset=${offset}${at ? `&at=${part(at)}` : ''}`));
}

export type { EntryRow, ImageRow };
