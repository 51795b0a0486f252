require "comparator-i;ascii-numeric";
if header :contains :comparator "i;ascii-numeric" "subject" "1" { keep; }
