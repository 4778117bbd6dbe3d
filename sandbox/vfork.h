/* SPDX-License-Identifier: MIT */
/* clone3 with the caller's memory shared (CLONE_VM | CLONE_VFORK): the child runs @fn on
 * a stack of its own while the calling thread waits for its exec or exit. A large
 * caller (sbxd, CRIU's parent) copies none of its page tables for a child that only
 * prepares an exec, and clears none at that exec. glibc's clone() cannot pass clone3's
 * fields (CLONE_INTO_CGROUP), hence the few lines of assembly. */
#pragma once

#include <linux/sched.h>
#include <stddef.h>
#include <sys/syscall.h>

/* Sanitizer runtimes intercept what such a child calls and keep per-thread state it
 * would share with its parent: sanitized builds fork. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VFORK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VFORK_SANITIZED 1
#endif
#endif

#if !defined(VFORK_SANITIZED) && (defined(__x86_64__) || defined(__aarch64__))
#define VFORK_CLONE3 1

/* The child's pid, or -errno. args->stack and args->stack_size are the child's stack
 * (16-byte aligned at its top); args->flags should hold CLONE_VM | CLONE_VFORK. @fn
 * must not return: it ends in execve or _exit. It runs in our memory while other
 * threads may run: async-signal-safe calls only, no allocation, no lock. */
static inline long vfork_clone3(struct clone_args *args, void (*fn)(void *), void *arg)
{
#if defined(__x86_64__)
	register long rax __asm__("rax") = SYS_clone3;
	register struct clone_args *rdi __asm__("rdi") = args;
	register size_t rsi __asm__("rsi") = sizeof(*args);
	register void (*r12)(void *) __asm__("r12") = fn;
	register void *r13 __asm__("r13") = arg;

	/* The child resumes here with rax 0 and its own stack: it calls @fn there. */
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r13, %%rdi\n\t"
			 "call *%%r12\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
			 : "rcx", "r11", "memory", "cc");
	return rax;
#else
	register long x8 __asm__("x8") = SYS_clone3;
	register long x0 __asm__("x0") = (long)args;
	register long x1 __asm__("x1") = (long)sizeof(*args);
	register void (*x19)(void *) __asm__("x19") = fn;
	register void *x20 __asm__("x20") = arg;

	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x29, xzr\n\t"
			 "mov x0, x20\n\t"
			 "blr x19\n\t"
			 "brk #0\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x19), "r"(x20)
			 : "x30", "memory", "cc");
	return x0;
#endif
}
#endif
