require "fileinto";
if header :contains :comparator "i;octet" "subject" "Meeting" { fileinto "M"; }
if header :contains :comparator "i;octet" "subject" "meeting" { fileinto "m"; }
if header :contains :comparator "i;ascii-casemap" "subject" "MEETING" { fileinto "casemap"; }
