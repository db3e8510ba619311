import type { Header } from 'tar-stream';
import { memberOwner, memberOwnerNames } from '../image/tar-member.ts';
import { OwnerNames } from '../reader/owner-names.ts';

/**
 * Who owns a restored member, as GNU tar decides it when run as root: the
 * user and group named in the member (pax/ustar uname, gname) when that
 * name exists on this host, else the member's number; with `numeric`
 * (GNU tar's --numeric-owner), always the number. This host's names are
 * read once per restore, at the first member (owner-names.ts).
 */
export class RestoreOwners {
  readonly #numeric: boolean;
  #names: OwnerNames | undefined;

  constructor(numeric: boolean, names?: OwnerNames) {
    this.#numeric = numeric;
    this.#names = names;
  }

  ownerOf(header: Header): [number, number] {
    const [uid, gid] = memberOwner(header);
    if (this.#numeric) return [uid, gid];
    const { uname, gname } = memberOwnerNames(header);
    if (uname === undefined && gname === undefined) return [uid, gid];
    const names = (this.#names ??= OwnerNames.ofThisHost());
    return [(uname !== undefined ? names.uidOf(uname) : undefined) ?? uid, (gname !== undefined ? names.gidOf(gname) : undefined) ?? gid];
  }
}
