//! A minimal ELF64 reader: enough to tell whether an executable needs a dynamic loader or shared
//! libraries (PT_INTERP program header, DT_NEEDED dynamic entries). Pure Rust, no `readelf`.

/// What the dynamic linker would need to run the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linkage {
    /// ELF type: 2 = EXEC (static, non-PIE), 3 = DYN (PIE / static-pie / shared object).
    pub e_type: u16,
    /// `e_machine`: 62 = x86-64.
    pub machine: u16,
    /// The PT_INTERP path, if any (e.g. `/lib64/ld-linux-x86-64.so.2`).
    pub interpreter: Option<String>,
    /// DT_NEEDED entries (library names when the string table could be resolved, else offsets).
    pub needed: Vec<String>,
}

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_LOAD: u32 = 1;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

fn u16_at(b: &[u8], o: usize) -> Result<u16, String> {
    b.get(o..o + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| format!("truncated at {o}"))
}
fn u32_at(b: &[u8], o: usize) -> Result<u32, String> {
    b.get(o..o + 4)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
        .ok_or_else(|| format!("truncated at {o}"))
}
fn u64_at(b: &[u8], o: usize) -> Result<u64, String> {
    b.get(o..o + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
        .ok_or_else(|| format!("truncated at {o}"))
}

struct Phdr {
    p_type: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// Parses a little-endian ELF64 file.
pub fn linkage(bytes: &[u8]) -> Result<Linkage, String> {
    if bytes.get(0..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if bytes.len() < 64 {
        return Err("truncated ELF header".into());
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err(format!(
            "not little-endian ELF64 (class {}, data {})",
            bytes[4], bytes[5]
        ));
    }
    let e_type = u16_at(bytes, 16)?;
    let machine = u16_at(bytes, 18)?;
    let phoff = u64_at(bytes, 32)? as usize;
    let phentsize = u16_at(bytes, 54)? as usize;
    let phnum = u16_at(bytes, 56)? as usize;
    let mut phdrs = Vec::with_capacity(phnum);
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        phdrs.push(Phdr {
            p_type: u32_at(bytes, o)?,
            offset: u64_at(bytes, o + 8)?,
            vaddr: u64_at(bytes, o + 16)?,
            filesz: u64_at(bytes, o + 32)?,
        });
    }
    let interpreter = phdrs
        .iter()
        .find(|p| p.p_type == PT_INTERP)
        .map(|p| {
            let s = bytes
                .get(p.offset as usize..(p.offset + p.filesz) as usize)
                .ok_or("PT_INTERP out of range")?;
            Ok::<_, String>(String::from_utf8_lossy(s).trim_end_matches('\0').to_owned())
        })
        .transpose()?;

    let mut needed = Vec::new();
    if let Some(dynamic) = phdrs.iter().find(|p| p.p_type == PT_DYNAMIC) {
        let mut entries = Vec::new();
        let mut o = dynamic.offset as usize;
        let end = (dynamic.offset + dynamic.filesz) as usize;
        while o + 16 <= end {
            let tag = u64_at(bytes, o)?;
            let val = u64_at(bytes, o + 8)?;
            if tag == DT_NULL {
                break;
            }
            entries.push((tag, val));
            o += 16;
        }
        // DT_STRTAB is a virtual address: map it to a file offset through the PT_LOAD segments.
        let strtab = entries.iter().find(|(t, _)| *t == DT_STRTAB).and_then(|(_, addr)| {
            phdrs
                .iter()
                .find(|p| p.p_type == PT_LOAD && *addr >= p.vaddr && *addr < p.vaddr + p.filesz)
                .map(|p| (addr - p.vaddr + p.offset) as usize)
        });
        for (_, val) in entries.iter().filter(|(t, _)| *t == DT_NEEDED) {
            let name = strtab
                .and_then(|s| bytes.get(s + *val as usize..))
                .and_then(|rest| rest.split(|b| *b == 0).next())
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_else(|| format!("<strtab+{val}>"));
            needed.push(name);
        }
    }
    Ok(Linkage {
        e_type,
        machine,
        interpreter,
        needed,
    })
}

#[test]
fn the_elf_check_can_fail_it_sees_the_loader_and_libc_of_a_dynamic_binary() {
    // This test binary is an ordinary (glibc, dynamically linked) build: the check must say so,
    // or a passing "no dynamic dependencies" verdict would mean nothing.
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let l = linkage(&me).expect("the test binary is ELF64");
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        assert!(l.interpreter.is_some(), "{l:?}");
        assert!(l.needed.iter().any(|n| n.starts_with("libc.so")), "{l:?}");
    }
}

#[test]
fn non_elf_input_is_an_error_not_a_pass() {
    assert!(linkage(b"#!/bin/sh\necho hi\n").is_err());
    assert!(linkage(b"\x7fELF").is_err());
}
