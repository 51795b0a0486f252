REQUIRE "fileinto";
IF HEADER :CONTAINS "SUBJECT" "news" { FILEINTO "Upper"; }
If Header :Is "x-priority" "4" { Keep; }
