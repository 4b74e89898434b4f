/* cronplus web: the one script. Every page works without it. */
"use strict";
