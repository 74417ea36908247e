; scripts/guest/gfx.asm: a one-sector BIOS boot program for screenshot tests.
;
; Assemble: nasm -f bin -DWIDTH=1024 -DHEIGHT=768 -o gfx.bin gfx.asm   (gives exactly 512 bytes)
;
; SeaBIOS loads this sector at 0000:7C00 in 16-bit real mode. With QEMU's `-vga std` VGA BIOS it
;   1. lists the VBE modes (INT 10h AX=4F00) and looks up each one (AX=4F01) for a WIDTHxHEIGHT mode
;      at 32 bits per pixel, then at 24 bpp, that is a supported, windowed (banked) graphics mode;
;   2. sets it (AX=4F02, banked, memory cleared);
;   3. paints the whole frame through 64 KiB window A, switching banks with AX=4F05:
;      left half (x < WIDTH/2) blue RGB(0,0,255), right half yellow RGB(255,255,0), every row alike;
;   4. writes "VMTEST-GFX-READY WIDTHxHEIGHT\r\n" to COM1 (0x3F8) and halts (cli; hlt loop).
; If no such mode exists, or a VBE call fails, it writes "VMTEST-GFX-NOMODE\r\n" instead and halts.
; Pixels are written byte by byte (blue,green,red[,pad]), so both 32 and 24 bpp work, including 24-bpp
; pixels that straddle a bank boundary, and any padding at the end of a scan line.

%ifndef WIDTH
%error "define WIDTH"
%endif
%ifndef HEIGHT
%error "define HEIGHT"
%endif
%defstr WSTR WIDTH
%defstr HSTR HEIGHT

VBEINFO  equ 0x8000             ; 512-byte VbeInfoBlock (the mode list may point into it)
MODEINFO equ 0x8200             ; 256-byte ModeInfoBlock
COM1     equ 0x3F8

        bits 16
        org 0x7C00

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        cld
        call uart_init

        ; --- VBE controller info; "VBE2" asks for the VBE 2.0+ block ---
        mov di, VBEINFO
        mov dword [di], 'VBE2'
        mov ax, 0x4F00
        int 0x10
        cmp ax, 0x004F
        jne nomode

        mov byte [want_bpp], 32
search:
        lfs si, [VBEINFO + 0x0E]        ; FS:SI = VideoModePtr (list of words, ends with 0xFFFF)
.next:
        mov cx, [fs:si]
        add si, 2
        cmp cx, 0xFFFF
        je .none
        push si
        push fs
        push cx
        mov ax, 0x4F01
        mov di, MODEINFO
        int 0x10
        pop cx
        pop fs
        pop si
        cmp ax, 0x004F
        jne .next
        mov al, [MODEINFO + 0x00]       ; ModeAttributes: supported(0), graphics(4), no-window(6)
        and al, 0x51
        cmp al, 0x11
        jne .next
        mov al, [MODEINFO + 0x02]       ; WinAAttributes: exists(0), writable(2)
        and al, 0x05
        cmp al, 0x05
        jne .next
        cmp word [MODEINFO + 0x12], WIDTH
        jne .next
        cmp word [MODEINFO + 0x14], HEIGHT
        jne .next
        mov al, [want_bpp]
        cmp [MODEINFO + 0x19], al
        jne .next
        jmp found
.none:
        cmp byte [want_bpp], 24
        je nomode
        mov byte [want_bpp], 24
        jmp search

found:
        mov bx, cx                      ; banked mode number (bit 14 clear), memory cleared (bit 15 clear)
        mov ax, 0x4F02
        int 0x10
        cmp ax, 0x004F
        jne nomode

        ; bytes per pixel, bytes in the left half of a line, bank step for 64 KiB of window
        movzx ax, byte [want_bpp]
        shr ax, 3
        mov [bpp_bytes], ax
        mov cx, WIDTH / 2
        mul cx
        mov [half], ax
        mov ax, [MODEINFO + 0x04]       ; WinGranularity in KiB
        test ax, ax
        jnz .gran
        mov ax, 64
.gran:
        mov cx, ax
        mov ax, 64
        xor dx, dx
        div cx
        mov [bankstep], ax
        ; total bytes = BytesPerScanLine * HEIGHT
        movzx eax, word [MODEINFO + 0x10]
        mov ecx, HEIGHT
        mul ecx
        mov ebp, eax

        mov es, [MODEINFO + 0x08]       ; WinASegment (0xA000)
        xor di, di                      ; DI = offset in the window
        xor bx, bx                      ; BX = byte column in the scan line
        xor si, si                      ; SI = byte index inside the pixel
        xor dx, dx                      ; DX = bank
        call setbank
.paint:
        cmp bx, [half]
        jb .blue
        mov al, [yellow + si]
        jmp .put
.blue:
        mov al, [blue + si]
.put:
        stosb
        inc si
        cmp si, [bpp_bytes]
        jb .k_ok
        xor si, si
.k_ok:
        inc bx
        cmp bx, [MODEINFO + 0x10]
        jb .c_ok
        xor bx, bx
        xor si, si
.c_ok:
        test di, di
        jnz .same_bank
        add dx, [bankstep]
        call setbank
.same_bank:
        dec ebp
        jnz .paint

        mov si, msg_ready
        jmp finish
nomode:
        mov si, msg_nomode
finish:
        xor ax, ax
        mov ds, ax
        call puts
.halt:
        cli
        hlt
        jmp .halt

; AX=4F05 BH=0 (set) BL=0 (window A) DX=bank; keeps all registers
setbank:
        pusha
        mov ax, 0x4F05
        xor bx, bx
        int 0x10
        popa
        ret

; 8N1 at 115200 baud (QEMU does not need it; real UARTs do)
uart_init:
        mov dx, COM1 + 3
        mov al, 0x80
        out dx, al
        mov dx, COM1
        mov al, 1
        out dx, al
        inc dx
        xor al, al
        out dx, al
        mov dx, COM1 + 3
        mov al, 0x03
        out dx, al
        ret

; write the NUL-terminated string at DS:SI to COM1
puts:
        lodsb
        test al, al
        jz .done
        mov ah, al
        mov dx, COM1 + 5
.wait:
        in al, dx
        test al, 0x20                   ; transmitter holding register empty
        jz .wait
        mov al, ah
        mov dx, COM1
        out dx, al
        jmp puts
.done:
        ret

; pixel bytes in memory order (blue, green, red, pad)
blue:   db 0xFF, 0x00, 0x00, 0x00
yellow: db 0x00, 0xFF, 0xFF, 0x00
want_bpp:  db 0
bpp_bytes: dw 0
half:      dw 0
bankstep:  dw 0
msg_ready:  db 'VMTEST-GFX-READY ', WSTR, 'x', HSTR, 13, 10, 0
msg_nomode: db 'VMTEST-GFX-NOMODE', 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xAA55
