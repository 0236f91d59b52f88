// The settings page: the desktop notifications switch of this browser (notify.js).
import * as notify from "./notify.js";

notify.start({ me: "", mentionsMe: () => false, defaultLevel: "nothing" });
