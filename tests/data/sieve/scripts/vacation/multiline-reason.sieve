require "vacation";
vacation text:
Hello,

I am away.
..leading dot kept once
.
;
