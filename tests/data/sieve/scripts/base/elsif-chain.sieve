require "fileinto";
if header :is "x-priority" "1" { fileinto "p1"; }
elsif header :is "x-priority" "2" { fileinto "p2"; }
elsif header :is "x-priority" "3" { fileinto "p3"; }
elsif header :is "x-priority" "4" { fileinto "p4"; }
elsif header :is "x-priority" "5" { fileinto "p5"; }
else { fileinto "none"; }
