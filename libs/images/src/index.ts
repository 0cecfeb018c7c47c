/** @tugboat/images: tugboat's offline images (pause, web) as OCI image-layout tarballs, built from busybox-static (images.ts). */
export { buildTugboatImages, DEFAULT_BUSYBOX, PAUSE_IMAGE, WEB_IMAGE, WEB_V2_IMAGE } from './images.ts';
export type { BuiltImage } from './oci.ts';
