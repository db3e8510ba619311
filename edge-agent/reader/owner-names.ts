import { readFileSync } from 'node:fs';

/**
 * User and group names of this host, both ways (uid → name for a backup's
 * pax uname/gname, name → uid for a restore that maps owners by name as GNU
 * tar does as root).
 *
 * Node has no getpwuid/getgrgid, so the tables are read from /etc/passwd
 * and /etc/group once per job (on first use) rather than asked of
 * `getent` per id. Users that only a directory service (LDAP, sssd) knows
 * are not in those files: their members carry the number alone and are
 * restored by number, which is what GNU tar does for an id without a name.
 */
export class OwnerNames {
  readonly #users: NameTable;
  readonly #groups: NameTable;

  constructor(passwd: string, group: string) {
    this.#users = parseNameTable(passwd);
    this.#groups = parseNameTable(group);
  }

  /** This host's tables; a file that cannot be read is an empty table (numbers only). */
  static ofThisHost(root = '/etc'): OwnerNames {
    return new OwnerNames(readOrEmpty(`${root}/passwd`), readOrEmpty(`${root}/group`));
  }

  userName(uid: number): string | undefined {
    return this.#users.nameOf.get(uid);
  }

  groupName(gid: number): string | undefined {
    return this.#groups.nameOf.get(gid);
  }

  uidOf(name: string): number | undefined {
    return this.#users.idOf.get(name);
  }

  gidOf(name: string): number | undefined {
    return this.#groups.idOf.get(name);
  }
}

interface NameTable {
  nameOf: Map<number, string>;
  idOf: Map<string, number>;
}

/** `name:x:id:...` lines; the first name of an id and the first id of a name win, as getpwuid/getpwnam return them. */
function parseNameTable(text: string): NameTable {
  const table: NameTable = { nameOf: new Map(), idOf: new Map() };
  for (const line of text.split('\n')) {
    const [name, , idText] = line.split(':');
    if (!name || name.startsWith('#') || name.startsWith('+') || name.startsWith('-') || idText === undefined || !/^\d+$/.test(idText)) continue;
    const id = Number(idText);
    if (!table.nameOf.has(id)) table.nameOf.set(id, name);
    if (!table.idOf.has(name)) table.idOf.set(name, id);
  }
  return table;
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
