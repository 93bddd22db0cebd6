"""Traditional → Simplified Chinese.

OpenCC (``pip install opencc``, phrase-aware) is used when installed; otherwise a built-in table of the most
frequent one-to-one character pairs covers the bulk of running traditional text (it cannot resolve
one-to-many cases such as 乾/干 or 髮/发 in context, which is why OpenCC is preferred).
"""

from __future__ import annotations

from functools import lru_cache

# Pairs (traditional, simplified), chosen by frequency in running text. Only unambiguous mappings.
_PAIRS = (
    "們们 個个 這这 來来 時时 會会 為为 說说 對对 國国 學学 後后 過过 還还 發发 經经 動动 現现 開开 "
    "關关 長长 問问 點点 們们 實实 變变 體体 當当 從从 機机 與与 產产 業业 見见 將将 則则 進进 麼么 "
    "樣样 間间 東东 數数 頭头 義义 電电 還还 應应 內内 無无 們们 話话 車车 記记 處处 門门 萬万 戰战 "
    "書书 歲岁 兒儿 區区 場场 報报 網网 線线 級级 認认 議议 論论 總总 條条 幾几 種种 讓让 軍军 遠远 "
    "聽听 號号 師师 風风 華华 衛卫 錢钱 難难 備备 權权 眾众 陽阳 隊队 傳传 識识 與与 陳陈 張张 劉刘 "
    "導导 際际 術术 運运 歷历 愛爱 飛飞 節节 員员 設设 調调 結结 維维 氣气 語语 讀读 寫写 課课 試试 "
    "題题 類类 視视 觀观 親亲 覺觉 謝谢 請请 讚赞 貓猫 馬马 鳥鸟 魚鱼 龍龙 東东 樂乐 雙双 聲声 燈灯 "
    "廣广 廳厅 應应 標标 權权 歡欢 鐘钟 鐵铁 銀银 錯错 鍵键 門门 閉闭 間间 陸陆 隨随 險险 雜杂 雞鸡 "
    "離离 難难 雲云 靈灵 順顺 領领 頁页 預预 願愿 顯显 飯饭 館馆 驗验 體体 黨党 齊齐 齒齿 "
    "區区 參参 嗎吗 團团 圖图 園园 圓圆 壓压 塊块 壞坏 壯壮 夢梦 奮奋 孫孙 寧宁 寶宝 將将 專专 尋寻 "
    "層层 屬属 島岛 帶带 幣币 幫帮 庫库 廢废 彈弹 錄录 徑径 復复 態态 戲戏 戶户 擇择 擊击 據据 "
    "舉举 藝艺 蘇苏 藥药 蘭兰 處处 號号 蟲虫 衝冲 補补 製制 複复 規规 親亲 觸触 計计 訊讯 許许 "
    "詞词 詢询 該该 誰谁 課课 調调 談谈 證证 識识 讀读 變变 貝贝 負负 財财 貨货 貴贵 費费 資资 "
    "賣卖 買买 質质 購购 趕赶 趙赵 跡迹 輕轻 輸输 轉转 辦办 農农 邊边 郵邮 鄉乡 醫医 釋释 針针 "
    "錶表 鏡镜 長长 開开 間间 陣阵 陰阴 階阶 隻只 雖虽 電电 靜静 響响 頂顶 項项 順顺 須须 頓顿 "
    "頻频 額额 風风 飲饮 養养 驚惊 髮发 鬥斗 魯鲁 鮮鲜 麥麦 黃黄 點点 齡龄 "
    "連连 週周 達达 違违 適适 選选 遲迟 遺遗 還还 邏逻 鄭郑 創创 劃划 劇剧 勞劳 勢势 勵励 協协 "
    "單单 嚴严 囑嘱 執执 堅坚 報报 場场 塵尘 壇坛 壽寿 夠够 夾夹 奪夺 婦妇 媽妈 嬰婴 學学 寬宽 "
    "審审 對对 導导 屆届 嶺岭 廠厂 彎弯 強强 歸归 當当 錄录 後后 從从 恆恒 惡恶 悶闷 惱恼 愛爱 "
    "慣惯 憂忧 憶忆 應应 懷怀 懸悬 戀恋 戰战 掃扫 掛挂 換换 損损 搖摇 攝摄 擔担 擁拥 擬拟 擴扩 "
    "擾扰 攔拦 敗败 敵敌 數数 斷断 時时 晝昼 暫暂 曆历 曉晓 書书 會会 東东 棄弃 極极 構构 槍枪 "
    "樓楼 樹树 橋桥 機机 檢检 權权 歐欧 歲岁 殺杀 殼壳 氣气 決决 沒没 況况 湯汤 準准 溫温 滅灭 "
    "滿满 漢汉 潔洁 濟济 濕湿 灣湾 災灾 為为 烏乌 無无 煙烟 熱热 燒烧 營营 爭争 爺爷 牆墙 獨独 "
    "獲获 獎奖 環环 現现 產产 畫画 異异 當当 瘋疯 療疗 發发 盡尽 監监 盤盘 眾众 確确 礎础 禮礼 "
    "禪禅 積积 穩稳 窮穷 競竞 筆笔 築筑 簡简 糧粮 係系 紀纪 約约 紅红 級级 納纳 紙纸 細细 終终 "
    "組组 絕绝 給给 統统 絲丝 經经 綠绿 維维 網网 緊紧 線线 編编 練练 縣县 總总 績绩 繁繁 織织 "
    "繼继 續续 罰罚 羅罗 聯联 聖圣 聞闻 職职 肅肃 脫脱 腦脑 腳脚 臉脸 臨临 興兴 舊旧 艱艰 莊庄 "
    "華华 萬万 葉叶 蓋盖 蔣蒋 薦荐 薩萨 藍蓝 號号 術术 衛卫 裝装 襲袭 視视 覽览 訂订 訓训 託托 "
    "記记 設设 訪访 評评 詩诗 話话 誇夸 認认 誤误 說说 請请 諸诸 講讲 謀谋 護护 讓让 議议 貿贸 "
    "賓宾 賽赛 贊赞 趨趋 跳跳 蹤踪 車车 軟软 載载 輛辆 輝辉 辭辞 邊边 遠远 遞递 還还 鐘钟 錯错 "
    "鋼钢 錦锦 閃闪 閱阅 闆板 關关 陳陈 隱隐 雜杂 雙双 雞鸡 電电 霧雾 靈灵 韓韩 頭头 題题 類类 "
    "顧顾 飄飘 館馆 驅驱 驗验 鬧闹 魚鱼 鳳凤 鹽盐 麗丽 龜龟"
)
_TABLE = {ord(pair[0]): pair[1] for pair in _PAIRS.split() if len(pair) == 2 and pair[0] != pair[1]}


@lru_cache(maxsize=1)
def opencc_converter():
    """OpenCC's t2s converter, or None when the optional `opencc` package is not installed."""
    try:
        import opencc
    except ImportError:
        return None
    return opencc.OpenCC("t2s")


def to_simplified(text: str, use_opencc: bool = True) -> str:
    converter = opencc_converter() if use_opencc else None
    if converter is not None:
        return converter.convert(text)
    return text.translate(_TABLE)
