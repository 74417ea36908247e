//! placeholder: the qemu driver is being written
