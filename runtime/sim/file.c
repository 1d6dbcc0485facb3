/* SPDX-License-Identifier: MIT */
/*
 * file.c - the simulated file system: regular files and directories in
 * memory, a namespace of the model's own that is empty at the start of a
 * run.
 *
 * Inodes live in one array (index 0 the root); a directory's entries are
 * names in one flat list of (directory, name, inode), searched by the
 * directory and the name. A path is resolved from the root if it is
 * absolute or relative to AT_FDCWD (the model's working directory is its
 * root), else from the directory its dfd opened; "." and ".." work, there
 * are no links of either kind. Paths (and an OPENAT2's open_how) are
 * copied when the SQE is taken, as the kernel copies them at submission.
 *
 * A descriptor of a file is an entry of sim.c's table (SIM_FD_FILE) whose
 * index is an open file description here: the inode, the open flags and
 * the file position. READ and WRITE at an offset, or at -1 (the file
 * position, which they move); O_APPEND writes at the end whatever the
 * offset; a read past the end is short (0 at or beyond it). Contents are
 * dense: a hole reads as zeros and counts toward the budget
 * (urt_sim_opts.fs_bytes), past which a write is short, then -ENOSPC. An
 * inode lives while it has a name or an open descriptor.
 *
 * Errors are the ones the kernel gives for the same call, in the same
 * order of checks as far as a program can tell (docs/simulation.md lists
 * the divergences).
 */
#include "sim_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NONE UINT32_MAX

struct sim_inode {
	uint8_t dir;
	uint32_t nlink;	 /* names (a directory: 1 while it has one) */
	uint32_t refs;	 /* open file descriptions */
	uint32_t parent; /* a directory: the one holding it (the root: itself) */
	uint32_t nent;	 /* a directory: its entries */
	uint32_t mode;	 /* the permission bits given at creation */
	uint32_t next_free;
	uint8_t *data;
	uint64_t size, cap;
	uint64_t mtime, ctime, btime;
};

struct sim_dent {
	uint32_t dir, ino;
	char name[NAME_MAX + 1];
};

struct sim_ofd {
	uint32_t ino;
	int flags; /* as opened */
	uint64_t pos;
	uint32_t next_free;
};

/* --- inodes and names ------------------------------------------------------------- */

static struct sim_inode *ino_at(struct urt_sim *s, uint32_t n)
{
	return &s->ino[n];
}

static uint32_t ino_new(struct urt_sim *s, bool dir, uint32_t mode, uint32_t parent)
{
	uint32_t n;

	if (s->ino_free) {
		n = s->ino_free - 1;
		s->ino_free = s->ino[n].next_free;
	} else {
		if (s->nino == s->ino_cap)
			s->ino = urt__sim_grow(s->ino, &s->ino_cap, sizeof(*s->ino));
		n = s->nino++;
	}
	s->ino[n] = (struct sim_inode){ .dir = dir,
					.nlink = 1,
					.parent = parent,
					.mode = mode & 07777,
					.mtime = s->now,
					.ctime = s->now,
					.btime = s->now };
	return n;
}

/* The root, made at the first use of the file system. */
static uint32_t root(struct urt_sim *s)
{
	if (!s->nino)
		ino_new(s, true, 0755, 0);
	return 0;
}

/* Inode n dies once it has neither a name nor an open descriptor. */
static void ino_put(struct urt_sim *s, uint32_t n)
{
	struct sim_inode *in = ino_at(s, n);

	if (in->nlink || in->refs || !n)
		return;
	s->fs_used -= in->size;
	free(in->data);
	*in = (struct sim_inode){ .next_free = s->ino_free };
	s->ino_free = n + 1;
}

static bool name_is(const struct sim_dent *d, const char *name, size_t len)
{
	return !strncmp(d->name, name, len) && !d->name[len];
}

/* The entry of name in directory dir, or NONE. */
static uint32_t dent_find(struct urt_sim *s, uint32_t dir, const char *name, size_t len)
{
	for (uint32_t e = 0; e < s->ndent; e++)
		if (s->dent[e].dir == dir && name_is(&s->dent[e], name, len))
			return e;
	return NONE;
}

static bool dot(const char *name, size_t len)
{
	return len == 1 && name[0] == '.';
}

static bool dotdot(const char *name, size_t len)
{
	return len == 2 && name[0] == '.' && name[1] == '.';
}

/* The inode name names in directory dir, or NONE. */
static uint32_t lookup(struct urt_sim *s, uint32_t dir, const char *name, size_t len)
{
	uint32_t e;

	if (dot(name, len))
		return dir;
	if (dotdot(name, len))
		return ino_at(s, dir)->parent;
	e = dent_find(s, dir, name, len);
	return e == NONE ? NONE : s->dent[e].ino;
}

static void dent_add(struct urt_sim *s, uint32_t dir, const char *name, size_t len, uint32_t n)
{
	struct sim_dent *d;

	if (s->ndent == s->dent_cap)
		s->dent = urt__sim_grow(s->dent, &s->dent_cap, sizeof(*s->dent));
	d = &s->dent[s->ndent++];
	d->dir = dir;
	d->ino = n;
	memcpy(d->name, name, len);
	d->name[len] = 0;
	ino_at(s, dir)->nent++;
	ino_at(s, dir)->mtime = s->now;
}

/* Remove entry e (its inode keeps its link count: the caller's). */
static void dent_del(struct urt_sim *s, uint32_t e)
{
	ino_at(s, s->dent[e].dir)->nent--;
	ino_at(s, s->dent[e].dir)->mtime = s->now;
	s->dent[e] = s->dent[--s->ndent];
}

/* --- paths -------------------------------------------------------------------------- */

struct walk {
	uint32_t dir;	  /* the directory holding the last component */
	const char *name; /* the last component ("." for "/") */
	size_t len;
	bool slash; /* the path ends with '/': it must name a directory */
};

/* The directory dfd opened, for a relative path. Return: 0; -EBADF;
 * -ENOTDIR; -ENOENT (the directory was removed). */
static int dfd_dir(struct urt_sim *s, int dfd, uint32_t *dir)
{
	uint32_t f;
	enum sim_fd_kind kind;

	if (dfd == AT_FDCWD) {
		*dir = root(s);
		return 0;
	}
	kind = urt__sim_fd_at(s, dfd, &f);
	if (kind == SIM_FD_FREE)
		return -EBADF;
	if (kind != SIM_FD_FILE || !ino_at(s, s->ofd[f].ino)->dir)
		return -ENOTDIR;
	if (!ino_at(s, s->ofd[f].ino)->nlink)
		return -ENOENT; /* removed while open: nothing can be found or made in it */
	*dir = s->ofd[f].ino;
	return 0;
}

/* Resolve path up to its last component. Return: 0; -ENOENT (empty, or a
 * directory on the way missing); -ENOTDIR; -ENAMETOOLONG; -EBADF. */
static int walk(struct urt_sim *s, int dfd, const char *path, struct walk *w)
{
	const char *p = path;
	uint32_t d;
	int ret;

	if (!*p)
		return -ENOENT;
	if (*p == '/')
		d = root(s);
	else if ((ret = dfd_dir(s, dfd, &d)))
		return ret;
	for (;;) {
		const char *e, *q;
		size_t n;
		uint32_t c;

		while (*p == '/')
			p++;
		for (e = p; *e && *e != '/'; e++)
			;
		for (q = e; *q == '/'; q++)
			;
		n = (size_t)(e - p);
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		if (!*q) {
			*w = (struct walk){
				.dir = d, .name = n ? p : ".", .len = n ? n : 1, .slash = *e == '/'
			};
			return 0;
		}
		c = lookup(s, d, p, n);
		if (c == NONE)
			return -ENOENT;
		if (!ino_at(s, c)->dir)
			return -ENOTDIR;
		d = c;
		p = q;
	}
}

/* Copy a path from the program's memory, as the kernel's getname does. */
static void path_copy(struct sim_op *o, int k, uint64_t addr)
{
	const char *p = (const char *)(uintptr_t)addr;
	size_t n;

	if (o->perr)
		return;
	if (!p) {
		o->perr = -EFAULT;
		return;
	}
	n = strnlen(p, PATH_MAX);
	if (n == PATH_MAX) {
		o->perr = -ENAMETOOLONG;
		return;
	}
	o->path[k] = malloc(n + 1);
	if (!o->path[k])
		abort();
	memcpy(o->path[k], p, n + 1);
}

void urt__sim_file_take(struct urt_sim *s, uint32_t i)
{
	struct sim_op *o = &s->op[i];

	switch (o->sqe.opcode) {
	case IORING_OP_OPENAT2:
		if (o->sqe.len < sizeof(struct open_how) || !o->sqe.off)
			o->perr = o->sqe.off ? -EINVAL : -EFAULT;
		else
			memcpy(&o->how, (const void *)(uintptr_t)o->sqe.off, sizeof(o->how));
		/* fall through */
	case IORING_OP_OPENAT:
	case IORING_OP_MKDIRAT:
	case IORING_OP_UNLINKAT:
		path_copy(o, 0, o->sqe.addr);
		break;
	case IORING_OP_STATX:
		/* AT_EMPTY_PATH may come without a path (Linux 6.11) */
		if (o->sqe.addr || !(o->sqe.statx_flags & AT_EMPTY_PATH))
			path_copy(o, 0, o->sqe.addr);
		break;
	case IORING_OP_RENAMEAT:
		path_copy(o, 0, o->sqe.addr);
		path_copy(o, 1, o->sqe.addr2);
		break;
	default:
		return;
	}
	for (int k = 0; k < 2; k++) { /* the paths are part of the submission */
		uint64_t h = 0xcbf29ce484222325ull;

		for (const char *c = o->path[k]; c && *c; c++)
			h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
		urt__sim_mix(s, h);
	}
}

/* --- contents ------------------------------------------------------------------------- */

/* A file's contents are memory: past 4 GiB the model's disk is full
 * (never an allocation that cannot succeed: under a sanitizer that ends
 * the process instead of returning NULL). */
#define SIM_FILE_MEM_MAX (1ull << 32)

/* Make inode n size bytes long (zeros past the old end). Return: 0;
 * -EFBIG past the largest file size (INT64_MAX, as the kernel's
 * s_maxbytes on a 64-bit machine); -ENOSPC past the budget, past
 * SIM_FILE_MEM_MAX, or where this process cannot hold the contents. */
static int resize(struct urt_sim *s, uint32_t n, uint64_t size)
{
	struct sim_inode *in = ino_at(s, n);

	if (size > INT64_MAX)
		return -EFBIG;
	if (size > in->size && size - in->size > s->fs_bytes - s->fs_used)
		return -ENOSPC;
	if (size > in->cap) {
		uint64_t cap = in->cap ? in->cap : 4096;
		uint8_t *d;

		if (size > SIM_FILE_MEM_MAX)
			return -ENOSPC;
		while (cap < size)
			cap *= 2; /* no wrap: size is at most SIM_FILE_MEM_MAX */
		d = realloc(in->data, cap);
		if (!d)
			return -ENOSPC;
		in->data = d;
		in->cap = cap;
	}
	if (size > in->size)
		memset(in->data + in->size, 0, size - in->size);
	s->fs_used = s->fs_used - in->size + size;
	in->size = size;
	in->mtime = in->ctime = s->now;
	return 0;
}

/* The open file description of fd, its inode's index in *n; NULL if fd is
 * not a file of the model. */
static struct sim_ofd *fd_file(struct urt_sim *s, int fd, uint32_t *n)
{
	uint32_t f;

	*n = 0;
	if (urt__sim_fd_at(s, fd, &f) != SIM_FD_FILE)
		return NULL;
	*n = s->ofd[f].ino;
	return &s->ofd[f];
}

static int32_t file_read(struct urt_sim *s, struct sim_op *o)
{
	uint32_t n;
	struct sim_ofd *f = fd_file(s, o->sqe.fd, &n);
	struct sim_inode *in = ino_at(s, n);
	bool at_pos = o->sqe.off == UINT64_MAX;
	uint64_t off = at_pos ? f->pos : o->sqe.off, len;

	if ((f->flags & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	if (in->dir)
		return -EISDIR;
	if (o->sqe.flags & IOSQE_BUFFER_SELECT)
		return -EOPNOTSUPP; /* not in the model for files */
	if ((int64_t)off < 0)
		return -EINVAL;
	if (urt__sim_fault(s, URT_SIM_FAULT_EIO))
		return -EIO;
	len = off >= in->size ? 0 : in->size - off;
	if (len > o->sqe.len)
		len = o->sqe.len;
	if (len > INT32_MAX)
		len = INT32_MAX & ~4095u;
	if (len)
		memcpy((void *)(uintptr_t)o->sqe.addr, in->data + off, len);
	if (at_pos)
		f->pos = off + len;
	return (int32_t)len;
}

static int32_t file_write(struct urt_sim *s, struct sim_op *o)
{
	uint32_t n;
	struct sim_ofd *f = fd_file(s, o->sqe.fd, &n);
	bool at_pos = o->sqe.off == UINT64_MAX;
	uint64_t off = at_pos ? f->pos : o->sqe.off, len = o->sqe.len, room, end;

	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF; /* a directory is never open for writing */
	if ((int64_t)off < 0)
		return -EINVAL;
	if (urt__sim_fault(s, URT_SIM_FAULT_EIO))
		return -EIO;
	if (f->flags & O_APPEND)
		off = ino_at(s, n)->size;
	if (!len)
		return 0;
	if (len > INT32_MAX)
		len = INT32_MAX & ~4095u;
	/* what the budget leaves: a short write, then -ENOSPC */
	room = ino_at(s, n)->size + (s->fs_bytes - s->fs_used);
	if (off >= room)
		return -ENOSPC;
	if (len > room - off)
		len = room - off;
	end = off + len;
	if (end > ino_at(s, n)->size) {
		int ret = resize(s, n, end); /* in the budget (above); memory may still fail */

		if (ret)
			return ret;
	}
	memcpy(ino_at(s, n)->data + off, (const void *)(uintptr_t)o->sqe.addr, len);
	ino_at(s, n)->mtime = ino_at(s, n)->ctime = s->now;
	if (at_pos) /* an O_APPEND write at an offset appends, and leaves the position */
		f->pos = end;
	return (int32_t)len;
}

static int32_t file_fsync(struct urt_sim *s, struct sim_op *o)
{
	uint32_t n;

	if (!fd_file(s, o->sqe.fd, &n))
		return urt__sim_fd_at(s, o->sqe.fd, NULL) == SIM_FD_FREE ? -EBADF : -EINVAL;
	if (o->sqe.fsync_flags & ~IORING_FSYNC_DATASYNC)
		return -EINVAL;
	if (urt__sim_fault(s, URT_SIM_FAULT_EIO))
		return -EIO;
	return 0; /* the model's contents are always on its "disk" */
}

static int32_t file_fallocate(struct urt_sim *s, struct sim_op *o)
{
	uint32_t n;
	struct sim_ofd *f = fd_file(s, o->sqe.fd, &n);
	uint64_t off = o->sqe.off, len = o->sqe.addr;
	int mode = (int)o->sqe.len;

	if (!f)
		return urt__sim_fd_at(s, o->sqe.fd, NULL) == SIM_FD_FREE ? -EBADF : -ENODEV;
	if ((int64_t)off < 0 || (int64_t)len <= 0)
		return -EINVAL;
	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP; /* holes and ranges are not in the model */
	if (off + len < off || off + len > INT64_MAX)
		return -EFBIG; /* as vfs_fallocate: past the largest file size */
	if (mode & FALLOC_FL_KEEP_SIZE || off + len <= ino_at(s, n)->size)
		return 0;
	return resize(s, n, off + len);
}

static int32_t file_ftruncate(struct urt_sim *s, struct sim_op *o)
{
	uint32_t n;
	struct sim_ofd *f = fd_file(s, o->sqe.fd, &n);

	if (!f)
		return urt__sim_fd_at(s, o->sqe.fd, NULL) == SIM_FD_FREE ? -EBADF : -EINVAL;
	if ((int64_t)o->sqe.off < 0 || ino_at(s, n)->dir || (f->flags & O_ACCMODE) == O_RDONLY)
		return -EINVAL;
	return resize(s, n, o->sqe.off);
}

/* --- names ------------------------------------------------------------------------------- */

static int32_t file_open(struct urt_sim *s, struct sim_op *o, int flags, uint32_t mode)
{
	int acc = flags & O_ACCMODE;
	struct walk w;
	uint32_t n, f;
	int ret;

	if ((flags & (O_CREAT | O_DIRECTORY)) == (O_CREAT | O_DIRECTORY))
		return -EINVAL; /* as Linux 6.4 on */
	if ((ret = walk(s, o->sqe.fd, o->path[0], &w)))
		return ret;
	n = lookup(s, w.dir, w.name, w.len);
	if (n == NONE) {
		if (!(flags & O_CREAT))
			return -ENOENT;
		if (w.slash)
			return -EISDIR;
		n = ino_new(s, false, mode, 0);
		dent_add(s, w.dir, w.name, w.len, n);
	} else {
		struct sim_inode *in = ino_at(s, n);

		if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
			return -EEXIST;
		if (in->dir) {
			if ((flags & (O_CREAT | O_TRUNC)) || acc != O_RDONLY)
				return -EISDIR;
		} else {
			if ((flags & O_DIRECTORY) || w.slash)
				return -ENOTDIR;
			if (flags & O_TRUNC)
				resize(s, n, 0);
		}
	}
	if (s->ofd_free) {
		f = s->ofd_free - 1;
		s->ofd_free = s->ofd[f].next_free;
	} else {
		if (s->nofd == s->ofd_cap)
			s->ofd = urt__sim_grow(s->ofd, &s->ofd_cap, sizeof(*s->ofd));
		f = s->nofd++;
	}
	s->ofd[f] = (struct sim_ofd){ .ino = n, .flags = flags };
	ino_at(s, n)->refs++;
	return urt__sim_fd_new(s, SIM_FD_FILE, f);
}

static int32_t file_openat2(struct urt_sim *s, struct sim_op *o)
{
	const struct open_how *h = &o->how;

	/* what openat2 refuses that openat ignores */
	if (h->flags &
	    ~(uint64_t)(O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK |
			O_DSYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME |
			O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE))
		return -EINVAL;
	if (h->mode & ~(uint64_t)07777 || (h->mode && !(h->flags & (O_CREAT | O_TMPFILE))))
		return -EINVAL;
	if (h->resolve & ~(uint64_t)(RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
				     RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED))
		return -EINVAL;
	return file_open(s, o, (int)h->flags, (uint32_t)h->mode);
}

static void fill_time(struct statx_timestamp *t, uint64_t ns)
{
	t->tv_sec = (int64_t)(ns / 1000000000u);
	t->tv_nsec = (uint32_t)(ns % 1000000000u);
}

static int32_t file_statx(struct urt_sim *s, struct sim_op *o)
{
	struct statx *out = (struct statx *)(uintptr_t)o->sqe.off;
	const char *path = o->path[0];
	struct sim_inode *in;
	uint32_t n, f;
	struct walk w;
	int ret;

	if (!out)
		return -EFAULT;
	if (!path || !*path) {
		enum sim_fd_kind kind;

		if (!(o->sqe.statx_flags & AT_EMPTY_PATH))
			return -ENOENT;
		if (o->sqe.fd == AT_FDCWD) {
			n = root(s);
		} else if ((kind = urt__sim_fd_at(s, o->sqe.fd, &f)) == SIM_FD_FILE) {
			n = s->ofd[f].ino;
		} else if (kind == SIM_FD_SOCK) {
			memset(out, 0, sizeof(*out));
			out->stx_mask = STATX_BASIC_STATS;
			out->stx_mode = S_IFSOCK | 0777;
			out->stx_nlink = 1;
			out->stx_blksize = 4096;
			return 0;
		} else {
			return -EBADF;
		}
	} else {
		if ((ret = walk(s, o->sqe.fd, path, &w)))
			return ret;
		n = lookup(s, w.dir, w.name, w.len);
		if (n == NONE)
			return -ENOENT;
		if (w.slash && !ino_at(s, n)->dir)
			return -ENOTDIR;
	}
	in = ino_at(s, n);
	memset(out, 0, sizeof(*out));
	out->stx_mask = STATX_BASIC_STATS | STATX_BTIME;
	out->stx_blksize = 4096;
	out->stx_nlink = in->dir ? 2 : in->nlink;
	out->stx_mode = (uint16_t)((in->dir ? S_IFDIR : S_IFREG) | in->mode);
	out->stx_ino = n + 1;
	out->stx_size = in->dir ? 4096 : in->size;
	out->stx_blocks = (in->dir ? 4096 : in->size + 511) / 512;
	fill_time(&out->stx_atime, in->mtime);
	fill_time(&out->stx_mtime, in->mtime);
	fill_time(&out->stx_ctime, in->ctime);
	fill_time(&out->stx_btime, in->btime);
	return 0;
}

static int32_t file_mkdir(struct urt_sim *s, struct sim_op *o)
{
	struct walk w;
	int ret;

	if ((ret = walk(s, o->sqe.fd, o->path[0], &w)))
		return ret;
	if (lookup(s, w.dir, w.name, w.len) != NONE)
		return -EEXIST;
	dent_add(s, w.dir, w.name, w.len, ino_new(s, true, o->sqe.len, w.dir));
	return 0;
}

static int32_t file_unlink(struct urt_sim *s, struct sim_op *o)
{
	bool rmdir = o->sqe.unlink_flags & AT_REMOVEDIR;
	struct walk w;
	uint32_t e, n;
	int ret;

	if (o->sqe.unlink_flags & ~(uint32_t)AT_REMOVEDIR)
		return -EINVAL;
	if ((ret = walk(s, o->sqe.fd, o->path[0], &w)))
		return ret;
	if (dot(w.name, w.len) || dotdot(w.name, w.len))
		return rmdir ? (dot(w.name, w.len) ? -EINVAL : -ENOTEMPTY) : -EISDIR;
	e = dent_find(s, w.dir, w.name, w.len);
	if (e == NONE)
		return -ENOENT;
	n = s->dent[e].ino;
	if (rmdir) {
		if (!ino_at(s, n)->dir)
			return -ENOTDIR;
		if (ino_at(s, n)->nent)
			return -ENOTEMPTY;
	} else {
		if (ino_at(s, n)->dir)
			return -EISDIR;
		if (w.slash)
			return -ENOTDIR;
	}
	dent_del(s, e);
	ino_at(s, n)->nlink--;
	ino_at(s, n)->ctime = s->now;
	ino_put(s, n);
	return 0;
}

/* Whether directory d is a or lies below it. */
static bool below(struct urt_sim *s, uint32_t d, uint32_t a)
{
	for (;;) {
		if (d == a)
			return true;
		if (!d)
			return false;
		d = ino_at(s, d)->parent;
	}
}

static int32_t file_rename(struct urt_sim *s, struct sim_op *o)
{
	uint32_t flags = o->sqe.rename_flags, oe, ne, on, nn;
	struct walk ow, nw;
	int ret;

	if (flags & ~(uint32_t)(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    flags == (RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if ((ret = walk(s, o->sqe.fd, o->path[0], &ow)) ||
	    (ret = walk(s, (int)o->sqe.len, o->path[1], &nw)))
		return ret;
	if (dot(ow.name, ow.len) || dotdot(ow.name, ow.len) || dot(nw.name, nw.len) ||
	    dotdot(nw.name, nw.len))
		return -EBUSY;
	oe = dent_find(s, ow.dir, ow.name, ow.len);
	if (oe == NONE)
		return -ENOENT;
	on = s->dent[oe].ino;
	ne = dent_find(s, nw.dir, nw.name, nw.len);
	nn = ne == NONE ? NONE : s->dent[ne].ino;
	if ((flags & RENAME_NOREPLACE) && nn != NONE)
		return -EEXIST;
	if ((flags & RENAME_EXCHANGE) && nn == NONE)
		return -ENOENT;
	if ((ow.slash || nw.slash) && !ino_at(s, on)->dir)
		return -ENOTDIR; /* a trailing slash names a directory */
	if (on == nn)
		return 0;
	if (ino_at(s, on)->dir && below(s, nw.dir, on))
		return -EINVAL; /* into itself */
	if (flags & RENAME_EXCHANGE) {
		if (ino_at(s, nn)->dir && below(s, ow.dir, nn))
			return -EINVAL;
		s->dent[oe].ino = nn;
		s->dent[ne].ino = on;
		if (ino_at(s, on)->dir)
			ino_at(s, on)->parent = nw.dir;
		if (ino_at(s, nn)->dir)
			ino_at(s, nn)->parent = ow.dir;
		return 0;
	}
	if (nn != NONE) {
		if (ino_at(s, on)->dir && !ino_at(s, nn)->dir)
			return -ENOTDIR;
		if (!ino_at(s, on)->dir && ino_at(s, nn)->dir)
			return -EISDIR;
		if (ino_at(s, nn)->dir && ino_at(s, nn)->nent)
			return -ENOTEMPTY;
		dent_del(s, ne);
		ino_at(s, nn)->nlink--;
		ino_put(s, nn);
		oe = dent_find(s, ow.dir, ow.name, ow.len); /* dent_del moved an entry */
	}
	dent_del(s, oe);
	dent_add(s, nw.dir, nw.name, nw.len, on);
	if (ino_at(s, on)->dir)
		ino_at(s, on)->parent = nw.dir;
	ino_at(s, on)->ctime = s->now;
	return 0;
}

/* Whether fd is a file of the model opened with O_PATH (no I/O on it). */
static bool opath(struct urt_sim *s, int fd)
{
	uint32_t n;
	const struct sim_ofd *f = fd_file(s, fd, &n);

	return f && (f->flags & O_PATH);
}

/* --- running ----------------------------------------------------------------------------- */

/* Run file operation o now (an operation of the ring's, or one the host
 * made: host.c). Return: its result; *mine false (and 0) if o is not the
 * file system's. */
static int32_t file_exec(struct urt_sim *s, struct sim_op *o, bool *mine)
{
	int32_t res;

	*mine = false;
	switch (o->sqe.opcode) {
	case IORING_OP_READ:
	case IORING_OP_WRITE:
		if (urt__sim_fd_at(s, o->sqe.fd, NULL) != SIM_FD_FILE)
			return 0; /* a socket's, or no descriptor of the model */
		res = opath(s, o->sqe.fd)		? -EBADF
		      : o->sqe.opcode == IORING_OP_READ ? file_read(s, o)
							: file_write(s, o);
		break;
	case IORING_OP_FSYNC:
	case IORING_OP_FALLOCATE:
	case URT__OP_FTRUNCATE:
		if (o->sqe.fd < SIM_FD_BASE)
			return 0; /* a real descriptor: not in the model */
		res = opath(s, o->sqe.fd)		     ? -EBADF
		      : o->sqe.opcode == IORING_OP_FSYNC     ? file_fsync(s, o)
		      : o->sqe.opcode == IORING_OP_FALLOCATE ? file_fallocate(s, o)
							     : file_ftruncate(s, o);
		break;
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2:
	case IORING_OP_STATX:
	case IORING_OP_MKDIRAT:
	case IORING_OP_UNLINKAT:
	case IORING_OP_RENAMEAT:
		if (o->perr) {
			res = o->perr;
			break;
		}
		switch (o->sqe.opcode) {
		case IORING_OP_OPENAT:
			res = file_open(s, o, (int)o->sqe.open_flags, o->sqe.len);
			break;
		case IORING_OP_OPENAT2:
			res = file_openat2(s, o);
			break;
		case IORING_OP_STATX:
			res = file_statx(s, o);
			break;
		case IORING_OP_MKDIRAT:
			res = file_mkdir(s, o);
			break;
		case IORING_OP_UNLINKAT:
			res = file_unlink(s, o);
			break;
		default:
			res = file_rename(s, o);
			break;
		}
		break;
	default:
		return 0;
	}
	*mine = true;
	return res;
}

bool urt__sim_file_run(struct urt_sim *s, uint32_t i)
{
	bool mine;
	int32_t res = file_exec(s, &s->op[i], &mine);

	if (mine)
		urt__sim_post(s, i, res, 0, false);
	return mine;
}

int32_t urt__sim_file_host(struct urt_sim *s, const struct io_uring_sqe *sqe, const char *path)
{
	struct sim_op o = { .sqe = *sqe };
	int32_t res;
	bool mine;

	if (path)
		path_copy(&o, 0, (uint64_t)(uintptr_t)path);
	else if (sqe->opcode != IORING_OP_READ && sqe->opcode != IORING_OP_WRITE)
		o.perr = -EFAULT;
	res = file_exec(s, &o, &mine);
	free(o.path[0]);
	return mine ? res : -EBADF;
}

void urt__sim_file_close(struct urt_sim *s, uint32_t f)
{
	uint32_t n = s->ofd[f].ino;

	s->ofd[f] = (struct sim_ofd){ .next_free = s->ofd_free };
	s->ofd_free = f + 1;
	ino_at(s, n)->refs--;
	ino_put(s, n);
}

void urt__sim_file_free(struct urt_sim *s)
{
	for (uint32_t n = 0; n < s->nino; n++)
		free(s->ino[n].data);
	free(s->ino);
	free(s->dent);
	free(s->ofd);
	s->ino = NULL;
	s->dent = NULL;
	s->ofd = NULL;
	s->nino = s->ndent = s->nofd = 0;
}
