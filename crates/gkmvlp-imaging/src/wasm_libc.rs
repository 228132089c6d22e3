//! What `openjp2` (JPEG 2000, transpiled from C) needs on `wasm32-unknown-unknown`, which has no
//! libc (PROBE.md §11):
//!
//! 1. the C symbols it still calls (`malloc`, `calloc`, `realloc`, `free`, `strcpy`); without them
//!    the module imports them from "env" and a browser refuses to instantiate it. Each block carries
//!    a 16-byte header holding its size, so `free`/`realloc` can rebuild the layout; `free(NULL)` is
//!    a no-op.
//! 2. a global allocator that ignores `dealloc(null, _)`: openjp2 also calls Rust's `dealloc` on
//!    code blocks that never got data (`opj_tcd_code_block_dec_deallocate`), which traps
//!    ("memory access out of bounds") in the default wasm allocator. Natively the system allocator
//!    already tolerates it. A final wasm binary may hold only one `#[global_allocator]`: a crate
//!    that links this one and wants its own must turn the `jpeg2000` feature off.

use std::alloc::{GlobalAlloc, Layout, System, alloc, alloc_zeroed, dealloc, realloc as rs_realloc};
use std::ffi::{c_char, c_void};

/// The system allocator, except that freeing a null pointer does nothing.
struct NullFreeTolerant;

unsafe impl GlobalAlloc for NullFreeTolerant {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !ptr.is_null() {
            unsafe { System.dealloc(ptr, layout) }
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: NullFreeTolerant = NullFreeTolerant;

const ALIGN: usize = 16;
const HEADER: usize = 16;

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, ALIGN).ok()
}

/// Writes the header of a fresh block and returns the user pointer.
unsafe fn finish(base: *mut u8, size: usize) -> *mut c_void {
    if base.is_null() {
        return std::ptr::null_mut();
    }
    unsafe {
        (base as *mut usize).write(size);
        base.add(HEADER) as *mut c_void
    }
}

/// The allocation base and user size of a block from `malloc`.
unsafe fn base_of(ptr: *mut c_void) -> (*mut u8, usize) {
    unsafe {
        let base = (ptr as *mut u8).sub(HEADER);
        (base, (base as *const usize).read())
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    match layout(size) {
        Some(l) => unsafe { finish(alloc(l), size) },
        None => std::ptr::null_mut(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    match count.checked_mul(size).and_then(|total| layout(total).map(|l| (total, l))) {
        Some((total, l)) => unsafe { finish(alloc_zeroed(l), total) },
        None => std::ptr::null_mut(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        return unsafe { malloc(size) };
    }
    let (Some(new_layout), (base, old)) = (layout(size), unsafe { base_of(ptr) }) else {
        return std::ptr::null_mut();
    };
    let Some(old_layout) = layout(old) else {
        return std::ptr::null_mut();
    };
    unsafe { finish(rs_realloc(base, old_layout, new_layout.size()), size) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    unsafe {
        let (base, size) = base_of(ptr);
        if let Some(l) = layout(size) {
            dealloc(base, l);
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn strcpy(dst: *mut c_char, src: *const c_char) -> *mut c_char {
    let mut i = 0;
    unsafe {
        loop {
            let c = *src.add(i);
            *dst.add(i) = c;
            if c == 0 {
                return dst;
            }
            i += 1;
        }
    }
}
