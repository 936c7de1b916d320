/** Storage port of the device area (filled in as the area grows). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DeviceStore {}
