# shellcheck shell=bash
# scripts/lib/bootdisk.sh: a BIOS-bootable disk image built from files alone, shared by
# scripts/build-guest-image (the tiny test guest) and scripts/build-cloud-guest (the Debian cloud guest).
#
# Why here: the machines that build images may not mount anything (no loop, no nbd, and the host
# kernel may lack vfat), so both builders make the same layout the same way: an MBR with SYSLINUX's
# mbr.bin, a FAT16 boot partition written with mtools (syslinux --install works on an image file),
# and an ext4 root partition made by `mkfs.ext4 -d`, all assembled with dd into one raw file.
# Callers source this file; the functions use only their arguments and SOURCE_DATE_EPOCH.

# Pin every timestamp in a tree (symlinks included) to SOURCE_DATE_EPOCH.
bootdisk_pin_times() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

# bootdisk_fat IMG SIZE_MB START_MB LABEL FAT_ID DIR CFG_TEXT FILE...: a FAT16 file system image of
# SIZE_MB with SYSLINUX installed, DIR/syslinux.cfg = CFG_TEXT, and the FILEs (paths inside DIR)
# copied to its root. START_MB is where the partition will sit on the disk: the SYSLINUX boot sector
# needs it (FAT "hidden sectors") to find itself.
bootdisk_fat() {
	local img=$1 mb=$2 start_mb=$3 label=$4 fat_id=$5 dir=$6 cfg=$7
	shift 7
	local files=() f
	for f in "$@"; do files+=("$dir/$f"); done
	files+=("$dir/syslinux.cfg")
	rm -f "$img"
	truncate -s "${mb}M" "$img"
	mkfs.vfat -F 16 -n "$label" -i "$fat_id" -h $((start_mb * 2048)) --invariant "$img" >/dev/null
	syslinux --install "$img"
	printf '%s\n' "$cfg" >"$dir/syslinux.cfg"
	bootdisk_pin_times "$dir"
	mcopy -m -i "$img" "${files[@]}" ::/
}

# bootdisk_assemble RAW DISK_MB MBR_ID BOOT_IMG BOOT_START_MB BOOT_MB ROOT_IMG ROOT_START_MB: an MBR
# disk of DISK_MB with SYSLINUX's mbr.bin, p1 = BOOT_IMG (type 6, bootable), p2 = ROOT_IMG (type 83,
# from ROOT_START_MB to the end of the disk).
bootdisk_assemble() {
	local raw=$1 disk_mb=$2 mbr_id=$3 bootimg=$4 boot_start=$5 boot_mb=$6 rootimg=$7 root_start=$8
	rm -f "$raw"
	truncate -s "${disk_mb}M" "$raw"
	printf 'label: dos\nlabel-id: %s\nstart=%s, size=%s, type=6, bootable\nstart=%s, type=83\n' \
		"$mbr_id" $((boot_start * 2048)) $((boot_mb * 2048)) $((root_start * 2048)) |
		sfdisk -q "$raw" >/dev/null
	# Only the 440 code bytes, after sfdisk, so the partition table stays.
	dd if=/usr/lib/syslinux/mbr/mbr.bin of="$raw" bs=440 count=1 conv=notrunc status=none
	dd if="$bootimg" of="$raw" bs=1M seek="$boot_start" conv=notrunc,sparse status=none
	dd if="$rootimg" of="$raw" bs=1M seek="$root_start" conv=notrunc,sparse status=none
}
